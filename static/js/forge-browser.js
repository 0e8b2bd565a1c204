// Stack form's forge picker (stacks/_forge_browser.html): lists a forge account's
// repositories through /api/forge/repositories (search, pages) and a repository's
// branches through /api/forge/branches; a pick fills the URL and branch fields and lets
// the live repository check ask the remote. Names are set as text, never as HTML.
document.addEventListener("DOMContentLoaded", () => {
  const panel = document.getElementById("forge-browser");
  const toggle = document.getElementById("forge-browse-toggle");
  if (!panel || !toggle) return;
  const $ = (id) => document.getElementById(id);
  const kind = $("forge-kind"), apiUrl = $("forge-api-url"), credential = $("forge-credential");
  const search = $("forge-search"), repos = $("forge-repos"), branches = $("forge-branches");
  const failure = $("forge-error"), statusLine = $("forge-status"), branchSearch = $("forge-branch-search");
  const placeholders = JSON.parse(apiUrl.dataset.placeholders);
  let repoPage = 1, branchPage = 1, picked = null;

  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
  });
  kind.addEventListener("change", () => { apiUrl.placeholder = placeholders[kind.value]; });

  const params = (more) => {
    const query = new URLSearchParams({ forge: kind.value, credentialId: credential.value || "", ...more });
    if (apiUrl.value.trim()) query.set("apiUrl", apiUrl.value.trim());
    return query;
  };
  const ask = async (url, query) => {
    failure.hidden = true;
    const response = await fetch(`${url}?${query}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const body = await response.json().catch(() => ({ error: `The server answered ${response.status}` }));
    if (!response.ok) throw new Error(body.error || `The server answered ${response.status}`);
    return body;
  };
  const say = (error) => { failure.textContent = error.message; failure.hidden = false; statusLine.textContent = ""; };
  const item = (text, detail) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "list-group-item list-group-item-action d-flex justify-content-between align-items-center gap-2";
    const name = document.createElement("span");
    name.className = "mono";
    name.textContent = text;
    button.append(name);
    if (detail) {
      const badge = document.createElement("span");
      badge.className = "badge text-bg-secondary";
      badge.textContent = detail;
      button.append(badge);
    }
    return button;
  };
  const note = (list, text) => {
    const empty = document.createElement("div");
    empty.className = "list-group-item small text-body-secondary";
    empty.textContent = text;
    list.replaceChildren(empty);
  };
  const fill = (id, value) => {
    const field = $(id);
    field.value = value;
    field.dispatchEvent(new Event("change", { bubbles: true }));
  };

  const listRepos = async (page) => {
    statusLine.textContent = "Asking the forge…";
    try {
      const body = await ask(panel.dataset.repositoriesUrl, params({ q: search.value.trim(), page }));
      repoPage = body.page;
      repos.replaceChildren();
      for (const repo of body.data) {
        const row = item(repo.name, repo.private ? "private" : "public");
        row.addEventListener("click", () => pickRepo(repo, row));
        repos.append(row);
      }
      if (!body.data.length) note(repos, "No repositories match.");
      $("forge-page").textContent = `Page ${repoPage}`;
      $("forge-prev").disabled = repoPage <= 1;
      $("forge-next").disabled = !body.hasMore;
      statusLine.textContent = `${body.data.length} shown`;
    } catch (error) { say(error); }
  };
  const listBranches = async (page) => {
    if (!picked) return;
    try {
      const body = await ask(panel.dataset.branchesUrl, params({ repo: picked.ref, q: branchSearch.value.trim(), page }));
      branchPage = body.page;
      branches.replaceChildren();
      for (const name of body.data) {
        const row = item(name, name === picked.defaultBranch ? "default" : "");
        row.addEventListener("click", () => {
          branches.querySelectorAll(".active").forEach((el) => el.classList.remove("active"));
          row.classList.add("active");
          fill("branch", name);
        });
        branches.append(row);
      }
      if (!body.data.length) note(branches, "No branches match.");
      $("forge-branches-prev").disabled = branchPage <= 1;
      $("forge-branches-next").disabled = !body.hasMore;
    } catch (error) { say(error); }
  };
  const pickRepo = (repo, row) => {
    picked = repo;
    repos.querySelectorAll(".active").forEach((el) => el.classList.remove("active"));
    row.classList.add("active");
    fill("url", repo.cloneUrl);
    if (repo.defaultBranch) fill("branch", repo.defaultBranch);
    statusLine.textContent = `URL${repo.defaultBranch ? " and branch" : ""} set from ${repo.name}`;
    branchSearch.disabled = false;
    branchSearch.value = "";
    listBranches(1);
  };

  $("forge-list").addEventListener("click", () => listRepos(1));
  search.addEventListener("keydown", (event) => {
    if (event.key === "Enter") { event.preventDefault(); listRepos(1); }  // not the stack form's submit
  });
  $("forge-prev").addEventListener("click", () => listRepos(repoPage - 1));
  $("forge-next").addEventListener("click", () => listRepos(repoPage + 1));
  $("forge-branches-prev").addEventListener("click", () => listBranches(branchPage - 1));
  $("forge-branches-next").addEventListener("click", () => listBranches(branchPage + 1));
  let typing;
  branchSearch.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => listBranches(1), 300); });
  branchSearch.addEventListener("keydown", (event) => { if (event.key === "Enter") event.preventDefault(); });
});
