// Stack page: copy buttons and the "add variable" row of the overrides editor.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = document.querySelector(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(input.value);
      } catch {
        input.type = "text";
        input.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  });
  const rows = document.getElementById("env-rows");
  const template = document.getElementById("env-row-template");
  document.getElementById("add-env-row")?.addEventListener("click", () => {
    const row = template.content.cloneNode(true);
    const index = String(Date.now());  // any id unique within the form ties a row's boxes to it
    row.querySelector('[name="row"]').value = index;
    row.querySelector('[name="secret"]').value = index;
    rows.appendChild(row);
    rows.lastElementChild.querySelector('[name="key"]').focus();
  });
});
