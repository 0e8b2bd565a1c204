// Deployment page: follow the output live over the WebSocket, from the last line the
// server rendered (data-after), then show the final status. Text goes in as text
// nodes, never as HTML: compose and git output is data. A deploy may print 100,000
// lines: they go in once per frame, and of those received live the page keeps the
// newest LIVE_LINES, as the server keeps a deployment's head and tail.
document.addEventListener("DOMContentLoaded", () => {
  const output = document.getElementById("output");
  if (output.dataset.finished === "1") return;
  const colors = { success: "success", skipped: "secondary", failed: "danger", cancelled: "warning", interrupted: "warning" };
  let after = Number(output.dataset.after);
  let done = false;
  const LIVE_LINES = 5000;
  let pending = [];
  const chunks = []; // [text node, its line count], oldest first
  let live = 0;
  let leftOut = 0;
  let marker = null;

  const flush = () => {
    if (!pending.length) return;
    const stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    // A tab in the background gathers lines without drawing them: keep the newest.
    const extra = pending.length - LIVE_LINES;
    if (extra > 0) {
      pending = pending.slice(extra);
      leftOut += extra;
    }
    const node = document.createTextNode(pending.join(""));
    output.appendChild(node);
    chunks.push([node, pending.length]);
    live += pending.length;
    pending = [];
    while (live - chunks[0][1] >= LIVE_LINES) {
      const [oldest, count] = chunks.shift();
      oldest.remove();
      live -= count;
      leftOut += count;
    }
    if (leftOut) {
      marker = marker || output.insertBefore(document.createTextNode(""), chunks[0][0]);
      marker.nodeValue = `… ${leftOut.toLocaleString()} lines left out here (reload for the stored output) …\n`;
    }
    if (stick) output.scrollTop = output.scrollHeight;
  };

  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/deployments/${output.dataset.deployment}/?after=${after}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "line") {
        if (!pending.length) requestAnimationFrame(flush);
        pending.push(message.text + "\n");
        after = message.seq;
      } else if (message.type === "status") {
        done = true;
        flush();
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
