// Keeps the open-alerts list live: asks the console every few moments whether the board changed since
// the version this page shows, and if so swaps in the rows it renders (escaped by the server's templates).
(function () {
  "use strict";
  const rows = document.getElementById("alert-rows");
  if (!rows) return;
  const every = Number(rows.dataset.refreshMs) || 1000;
  const status = document.getElementById("status");
  const count = document.getElementById("open-count");

  async function refresh() {
    const query = new URLSearchParams(window.location.search);
    query.set("since", rows.dataset.version);
    try {
      const response = await fetch("/alerts/rows?" + query.toString(), { credentials: "same-origin" });
      if (response.status === 200) {
        rows.innerHTML = await response.text();
        rows.dataset.version = response.headers.get("X-Board-Version");
        if (count) count.textContent = response.headers.get("X-Open-Alerts");
      }
      if (status) status.classList.remove("stale");
    } catch (error) {
      if (status) status.classList.add("stale");
    }
    window.setTimeout(refresh, every);
  }
  window.setTimeout(refresh, every);
})();
