// Colour mode: Bootstrap 5.3's light or dark as the system setting says, and following
// it when it changes. Loaded in <head>, before the page is drawn, so a dark system never
// sees a white flash; a file (the Content-Security-Policy runs no inline script).
(() => {
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  const apply = () => document.documentElement.setAttribute("data-bs-theme", dark.matches ? "dark" : "light");
  apply();
  dark.addEventListener("change", apply);
})();
