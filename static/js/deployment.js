// Deployment page: follow the output live over the WebSocket, from the last line the
// server rendered (data-after), then show the final status. Text goes in as text
// nodes, never as HTML: compose and git output is data.
document.addEventListener("DOMContentLoaded", () => {
  const output = document.getElementById("output");
  if (output.dataset.finished === "1") return;
  const colors = { success: "success", skipped: "secondary", failed: "danger", cancelled: "warning", interrupted: "warning" };
  let after = Number(output.dataset.after);
  let done = false;

  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/deployments/${output.dataset.deployment}/?after=${after}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "line") {
        const stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
        output.appendChild(document.createTextNode(message.text + "\n"));
        after = message.seq;
        if (stick) output.scrollTop = output.scrollHeight;
      } else if (message.type === "status") {
        done = true;
        const badge = document.createElement("span");
        badge.className = `badge text-bg-${colors[message.status] || "secondary"}`;
        badge.dataset.status = message.status;
        badge.textContent = message.status;
        document.getElementById("status").replaceChildren(badge);
        if (message.commit) document.getElementById("commit").textContent = message.commit.slice(0, 12);
        if (message.startedAt) document.getElementById("started").textContent = new Date(message.startedAt).toLocaleString();
        if (message.durationMs !== null) document.getElementById("duration").textContent = `${(message.durationMs / 1000).toFixed(1)} s`;
        if (message.error) {
          const box = document.getElementById("error");
          box.textContent = message.error;
          box.classList.remove("d-none");
        }
        document.getElementById("live-note").textContent = "Finished.";
      }
    };
    // A dropped connection resumes after the last line received; nothing is lost.
    socket.onclose = () => { if (!done) setTimeout(connect, 1000); };
  };
  connect();
});
