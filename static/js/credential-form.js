// Credential form: only the fields of the chosen type show, and only they are sent
// (a hidden field is disabled: a token typed before switching to SSH stays here).
// Without script every field shows, as the template draws them.
document.addEventListener("DOMContentLoaded", () => {
  const type = document.getElementById("authType");
  if (!type) return;
  const sync = () => {
    document.querySelectorAll("[data-auth]").forEach((box) => {
      const shown = box.dataset.auth.split(" ").includes(type.value);
      box.hidden = !shown;
      box.querySelectorAll("input, textarea, select").forEach((field) => { field.disabled = !shown; });
    });
  };
  type.addEventListener("change", sync);
  sync();
});
