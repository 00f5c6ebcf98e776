// Live /monitor: every 5 seconds, swap in the panel the server renders at /monitor/panel.
// Without JavaScript the page refreshes itself (a <noscript> meta refresh).
(function () {
  const panel = document.getElementById("monitor-panel");
  if (!panel) return;
  async function refresh() {
    try {
      const response = await fetch(panel.dataset.panelUrl, { headers: { Accept: "text/html" } });
      if (response.ok) panel.innerHTML = await response.text();
    } catch (error) {
      // The server is restarting or the network dropped: keep what is shown and try again.
    }
  }
  setInterval(refresh, 5000);
})();
