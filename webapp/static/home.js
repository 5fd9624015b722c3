// The home page refreshes its counts, queue depths and consumers and outbox backlog from GET /api/overview.
(function () {
  "use strict";
  var root = document.getElementById("overview");
  if (!root) { return; }
  var url = root.getAttribute("data-url");
  var status = document.getElementById("overview-status");

  function seconds(value) {
    if (value === null || value === undefined) { return "—"; }
    var units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (var i = 0; i < units.length; i++) {
      if (value >= units[i][1]) { return Math.round(value / units[i][1]) + " " + units[i][0]; }
    }
    return (value < 10 ? value.toFixed(1) : Math.round(value)) + " s";
  }

  function set(selector, value) {
    var node = root.querySelector(selector);
    if (node) { node.textContent = value; }
  }

  function show(data) {
    Object.keys(data.jobs_by_state).forEach(function (state) {
      set('[data-state-count="' + state + '"]', data.jobs_by_state[state]);
    });
    document.getElementById("broker-down").hidden = data.queues !== null;
    (data.queues || []).concat(data.event_queues || []).forEach(function (queue) {
      set('[data-queue="' + queue.name + '"]', queue.ready);
      if (!queue.dead_letter) { set('[data-consumers="' + queue.name + '"]', queue.consumers); }
    });
    var stalled = (data.queues || []).filter(function (queue) { return queue.stalled; });
    var alert = document.getElementById("stalled-queues");
    alert.textContent = stalled.map(function (queue) {
      return queue.name + " has " + queue.ready + " waiting and no consumer: no worker takes it.";
    }).join(" ");
    alert.hidden = stalled.length === 0;
    set('[data-outbox="unsent"]', data.outbox.unsent);
    set('[data-outbox="oldest"]', seconds(data.outbox.oldest_age_s));
    status.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(show)
      .catch(function () { status.textContent = "Could not refresh; retrying."; })
      .then(function () { setTimeout(refresh, 5000); });
  }
  setTimeout(refresh, 5000);
})();
