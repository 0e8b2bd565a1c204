// Stack page, containers section: the log viewer (live over the WebSocket, with tail,
// follow, filter, timestamps and download) and the confirmation of a stop or restart.
// Log text goes in as text, never as HTML: a container prints what it likes. The
// viewer keeps the newest MAX_LINES lines, as a terminal keeps its scrollback.
document.addEventListener("DOMContentLoaded", () => {
  const viewer = document.getElementById("log-viewer");
  if (!viewer) return;
  const MAX_LINES = 10000;
  const output = document.getElementById("log-output");
  const follow = document.getElementById("log-follow");
  const stamps = document.getElementById("log-timestamps");
  const tail = document.getElementById("log-tail");
  const search = document.getElementById("log-search");
  const state = document.getElementById("log-state");
  const status = document.getElementById("log-status");
  const count = document.getElementById("log-count");
  const download = document.getElementById("log-download");
  const stack = viewer.dataset.stack;

  let ref = "";
  let lines = []; // {time, text}, oldest first
  let shown = 0; // how many of `lines` the output holds (or has looked at, with a filter)
  let leftOut = 0; // lines the server skipped for their rate, and old ones let go here
  let socket = null;
  let drawing = false;

  const setState = (word, color) => {
    state.textContent = word;
    state.className = `badge ms-2 text-bg-${color}`;
    state.dataset.state = word;
  };
  const format = (line) => (stamps.checked ? `${line.time} ${line.text}\n` : `${line.text}\n`);
  const matches = (line) => {
    const wanted = search.value.trim().toLowerCase();
    return !wanted || line.text.toLowerCase().includes(wanted);
  };
  const counted = () => {
    const wanted = search.value.trim();
    const kept = wanted ? output.dataset.matching : lines.length;
    count.textContent = `${wanted ? `${kept} of ` : ""}${lines.length.toLocaleString()} lines`
      + (leftOut ? ` · ${leftOut.toLocaleString()} left out` : "");
  };

  // Everything again (a new filter, timestamps on or off, old lines let go).
  const redraw = () => {
    const kept = lines.filter(matches);
    output.textContent = kept.map(format).join("");
    output.dataset.matching = kept.length;
    shown = lines.length;
    output.scrollTop = output.scrollHeight;
    counted();
  };
  // The lines that came since the last frame, once per frame.
  const draw = () => {
    drawing = false;
    if (lines.length > MAX_LINES) {
      const extra = lines.length - MAX_LINES + 1000; // let go in blocks: one redraw per 1,000
      lines = lines.slice(extra);
      leftOut += extra;
      redraw();
      return;
    }
    const stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
    const fresh = lines.slice(shown).filter(matches);
    shown = lines.length;
    if (fresh.length) {
      output.appendChild(document.createTextNode(fresh.map(format).join("")));
      output.dataset.matching = Number(output.dataset.matching || 0) + fresh.length;
    }
    if (stick) output.scrollTop = output.scrollHeight;
    counted();
  };
  const later = () => {
    if (!drawing) {
      drawing = true;
      requestAnimationFrame(draw);
    }
  };

  const disconnect = () => {
    if (socket) {
      socket.onclose = null;
      socket.close();
      socket = null;
    }
  };
  const connect = () => {
    disconnect();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let last = "";
    for (let i = lines.length - 1; i >= 0 && !last; i -= 1) last = lines[i].time;
    // Going on after a pause (or a dropped connection): from the last line, none twice.
    const from = last ? `after=${encodeURIComponent(last)}` : `tail=${tail.value}`;
    const url = `${scheme}://${location.host}/ws/stacks/${stack}/containers/${encodeURIComponent(ref)}/logs/?${from}`;
    const opened = new WebSocket(url);
    socket = opened;
    let ended = false;
    setState("connecting", "secondary");
    opened.onopen = () => {
      setState("following", "success");
      status.textContent = "Following: new lines appear as the container prints them. Secret values are masked.";
    };
    opened.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "lines") {
        lines.push(...message.lines);
        later();
      } else if (message.type === "skipped") {
        leftOut += message.count;
        lines.push({ time: "", text: `… ${message.count.toLocaleString()} lines left out: the container printed too fast to follow (Download has them) …` });
        later();
      } else if (message.type === "end") {
        ended = true;
        follow.checked = false;
        setState("stopped", "secondary");
        status.textContent = message.reason;
      }
    };
    opened.onclose = (event) => {
      if (socket !== opened) return;
      socket = null;
      if (ended) return;
      if (event.code === 4404 || event.code === 4401) {
        follow.checked = false;
        setState("gone", "danger");
        status.textContent = event.code === 4401 ? "Signed out: log in again to read the log." : "This container is no longer part of the stack.";
      } else if (follow.checked) {
        setState("reconnecting", "warning");
        setTimeout(() => { if (follow.checked && !socket && ref) connect(); }, 1000);
      }
    };
  };

  const links = () => {
    download.href = `/api/git/stacks/${stack}/containers/${encodeURIComponent(ref)}/logs?download=1&tail=all&timestamps=${stamps.checked ? 1 : 0}`;
  };
  const start = () => {
    lines = [];
    shown = 0;
    leftOut = 0;
    output.textContent = "";
    output.dataset.matching = 0;
    counted();
    follow.checked = true;
    connect();
  };

  viewer.addEventListener("show.bs.modal", (event) => {
    const button = event.relatedTarget;
    if (!button) return;
    ref = button.dataset.logs;
    document.getElementById("log-title").textContent = button.dataset.name;
    links();
    start();
  });
  viewer.addEventListener("hidden.bs.modal", () => {
    disconnect();
    ref = "";
  });
  // The page goes away (or into the back-forward cache): the server stops following.
  window.addEventListener("pagehide", disconnect);

  follow.addEventListener("change", () => {
    if (follow.checked) {
      connect();
    } else {
      disconnect();
      setState("paused", "secondary");
      status.textContent = "Paused: turn Follow on to go on from the last line.";
    }
  });
  tail.addEventListener("change", start);
  stamps.addEventListener("change", () => { links(); redraw(); });
  search.addEventListener("input", redraw);

  // Stop and Restart ask first, naming the container.
  const confirm = document.getElementById("container-confirm");
  confirm.addEventListener("show.bs.modal", (event) => {
    const button = event.relatedTarget;
    if (!button) return;
    const action = button.dataset.confirmAction;
    const verb = action === "stop" ? "Stop" : "Restart";
    document.getElementById("container-confirm-form").action = button.dataset.confirmUrl;
    document.getElementById("container-confirm-title").textContent = `${verb} ${button.dataset.name}?`;
    document.getElementById("container-confirm-text").textContent = action === "stop"
      ? "The container stops (after its grace period) and stays stopped until it is started again or a deploy recreates it; the rest of the stack keeps running."
      : "The container stops and starts again; the rest of the stack keeps running.";
    const go = document.getElementById("container-confirm-go");
    go.textContent = verb;
    go.dataset.action = action;
  });
});
