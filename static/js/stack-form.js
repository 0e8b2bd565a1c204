// Stack form: show the inline repository / credential fields only when chosen,
// and let a preset fill in the cron expression (its preview follows via HTMX).
document.addEventListener("DOMContentLoaded", () => {
  const repo = document.getElementById("repositoryId");
  const cred = document.getElementById("credentialId");
  const sync = () => {
    document.getElementById("new-repository").hidden = repo.value !== "new";
    document.getElementById("new-credential").hidden = cred.value !== "new";
  };
  repo.addEventListener("change", sync);
  cred.addEventListener("change", sync);
  sync();
  document.getElementById("cron-preset").addEventListener("change", (event) => {
    if (!event.target.value) return;
    const cron = document.getElementById("autoUpdateCron");
    cron.value = event.target.value;
    cron.dispatchEvent(new Event("change", { bubbles: true }));
  });
});
