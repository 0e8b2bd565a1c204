// Stack form: show the inline repository / credential fields only when chosen, let a
// preset fill in the cron expression (its preview follows via HTMX), add and remove
// override rows, and follow the live repository check (stacks/_source_feedback.html):
// a branch or file the remote offers fills its field when clicked, and a field is
// marked invalid while the remote says it is wrong.
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

  const rows = document.getElementById("env-rows");
  const template = document.getElementById("env-row-template");
  document.getElementById("add-env-row")?.addEventListener("click", () => {
    const row = template.content.firstElementChild.cloneNode(true);
    const index = String(Date.now()); // any id unique within the form ties a row's boxes to it
    row.querySelector('[name="row"]').value = index;
    const secret = row.querySelector('[name="secret"]');
    secret.value = index;
    secret.id = `secret-${index}`;
    row.querySelector(`label[for="secret-new"]`).htmlFor = secret.id;
    rows.appendChild(row);
    row.querySelector('[name="key"]').focus();
  });
  rows?.addEventListener("click", (event) => {
    event.target.closest("[data-remove-row]")?.closest(".env-row").remove();
  });
  // A value marked secret is typed unseen, as it will be kept.
  rows?.addEventListener("change", (event) => {
    if (event.target.name !== "secret") return;
    const value = event.target.closest(".env-row").querySelector('[name="value"]');
    value.type = event.target.checked ? "password" : "text";
    value.autocomplete = event.target.checked ? "new-password" : "off";
  });

  document.addEventListener("click", (event) => {
    const choice = event.target.closest("[data-fill]");
    if (!choice) return;
    const field = document.getElementById(choice.dataset.fill);
    field.value = choice.dataset.value;
    field.dispatchEvent(new Event("change", { bubbles: true })); // asks the remote again
  });
  const mark = () => {
    document.querySelectorAll(".source-check[data-field]").forEach((region) => {
      const field = document.getElementById(region.dataset.field);
      field?.classList.toggle("is-invalid", region.dataset.invalid === "1");
    });
  };
  document.body.addEventListener("htmx:oobAfterSwap", mark);
  document.body.addEventListener("htmx:afterSettle", mark);
});
