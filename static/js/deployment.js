// Deployment page: follow the output live over the WebSocket, from the last line the
// server rendered (data-after), and keep the header in step with the run: the socket
// sends the header's state whenever it changes (status, commit, start, whether it can
// still be cancelled) and the final status at the end. Text goes in as text nodes or
// textContent, never as HTML: compose and git output is data. A deploy may print
// 100,000 lines: they go in once per frame, and of those received live the page keeps
// the newest LIVE_LINES, as the server keeps a deployment's head and tail.
document.addEventListener("DOMContentLoaded", () => {
  const output = document.getElementById("output");
  if (!output || output.dataset.finished === "1") return;
  const header = document.getElementById("deployment-header");
  const colors = {
    queued: "info", pending_approval: "info", running: "primary", success: "success", skipped: "secondary",
    failed: "danger", cancelled: "warning", interrupted: "warning",
  };
  const notes = { pending_approval: "Waiting for approval.", queued: "Queued: waiting for a worker…" };
  let after = Number(output.dataset.after);
  let version = header.dataset.version;
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

  // The same words as the server's `duration` filter, for the clock of a running deploy.
  const seconds = (ms) => {
    const s = ms / 1000;
    return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  };
  const started = document.getElementById("started");
  const durationBox = document.getElementById("duration");
  let status = output.dataset.status;
  const tick = () => {
    if (status !== "running" || !started.dataset.startedAt) return;
    const ms = Date.now() - Date.parse(started.dataset.startedAt);
    durationBox.textContent = `${seconds(Math.max(ms, 0)).replace(/\.\d s$/, " s")} so far`;
  };
  const clock = setInterval(tick, 1000);
  tick();

  const setText = (id, text) => {
    const element = document.getElementById(id);
    if (element) element.textContent = text;
  };
  const show = (element, shown) => { if (element) element.hidden = !shown; };

  const apply = (state) => {
    status = state.status;
    version = state.version;
    const badge = document.createElement("span");
    badge.className = `badge text-bg-${colors[state.status] || "secondary"}`;
    badge.dataset.status = state.status;
    badge.textContent = state.status;
    document.getElementById("status").replaceChildren(badge);
    output.dataset.status = state.status;
    setText("commit", state.commit ? state.commit.slice(0, 12) : "—");
    const message = state.commitMessage || "";
    setText("commit-message", message.length > 100 ? `${message.slice(0, 99)}…` : message);
    setText("commit-author", state.commitAuthor ? ` · ${state.commitAuthor}` : "");
    started.dataset.startedAt = state.startedAt || "";
    started.textContent = state.started || "not yet";
    if (state.durationMs !== null) durationBox.textContent = state.duration;
    else if (state.status !== "running") durationBox.textContent = "—";
    tick();
    show(document.getElementById("cancel-form"), state.cancellable);
    const cancelling = document.getElementById("cancelling");
    cancelling.textContent = `Cancelling: asked by ${state.cancelRequestedBy}…`;
    show(cancelling, Boolean(state.cancelRequestedBy) && state.durationMs === null);
    document.querySelectorAll("[data-while]").forEach((element) => show(element, element.dataset.while === state.status));
    document.querySelectorAll("[data-note]").forEach((element) => show(element, Boolean(state.note)));
    setText("note", state.note);
    const box = document.getElementById("error");
    box.textContent = state.error;
    show(box, Boolean(state.error));
    setText("live-note", notes[state.status] || "Following live…");
  };

  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = `after=${after}&version=${encodeURIComponent(version)}`;
    const socket = new WebSocket(`${scheme}://${location.host}/ws/deployments/${output.dataset.deployment}/?${query}`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "line") {
        if (!pending.length) requestAnimationFrame(flush);
        pending.push(message.text + "\n");
        after = message.seq;
      } else if (message.type === "state") {
        apply(message);
      } else if (message.type === "status") {
        done = true;
        flush();
        apply(message);
        clearInterval(clock);
        setText("live-note", "Finished.");
      }
    };
    // A dropped connection resumes after the last line received; nothing is lost.
    socket.onclose = () => { if (!done) setTimeout(connect, 1000); };
  };
  connect();
});
