// The job page follows its job live: Server-Sent Events from /api/jobs/<id>/events, and when the
// server cannot stream (503 or 429, no EventSource, a proxy in the way) it polls GET /api/jobs/<id> with its ETag.
(function () {
  "use strict";
  var section = document.getElementById("job");
  if (!section) { return; }
  var statusUrl = section.getAttribute("data-job-url");
  var eventsUrl = section.getAttribute("data-events-url");
  var finished = ["succeeded", "failed", "cancelled"];
  var cancellable = ["queued", "running", "retrying"];
  var hiddenKeys = ["errors_url", "pdf_url", "invoice_id"];

  function byId(id) { return document.getElementById(id); }
  function text(id, value) { var node = byId(id); if (node) { node.textContent = value; } }
  function toggle(id, visible) { var node = byId(id); if (node) { node.hidden = !visible; } }
  function isFinished(state) { return finished.indexOf(state) >= 0; }

  function link(id, href) { var node = byId(id); if (node && href) { node.href = href; } }

  function summary(values) {
    var list = document.createElement("dl");
    list.className = "summary";
    Object.keys(values).forEach(function (key) {
      var value = values[key];
      if (hiddenKeys.indexOf(key) >= 0 || value === null || Array.isArray(value) && value.length === 0 ||
          typeof value === "object" && !Array.isArray(value)) { return; }
      var term = document.createElement("dt");
      term.textContent = key.replace(/_/g, " ");
      var detail = document.createElement("dd");
      detail.textContent = Array.isArray(value) ? value.join(", ") : String(value);
      list.appendChild(term);
      list.appendChild(detail);
    });
    return list;
  }

  function cell(row, value) { var td = document.createElement("td"); td.textContent = value; row.appendChild(td); return td; }

  function attempts(history) {
    if (!history) { return; }
    var body = byId("job-attempts").tBodies[0];
    while (body.firstChild) { body.removeChild(body.firstChild); }
    history.forEach(function (attempt) {
      var row = document.createElement("tr");
      cell(row, attempt.number);
      var badge = document.createElement("span");
      badge.className = "badge badge-" + attempt.outcome;
      badge.textContent = attempt.outcome;
      cell(row, "").appendChild(badge);
      cell(row, attempt.worker || "—");
      cell(row, attempt.started_at || "—");
      cell(row, attempt.finished_at || "—");
      cell(row, attempt.error ? attempt.error.message : "");
      body.appendChild(row);
    });
    toggle("job-no-attempts", history.length === 0);
  }

  function show(job) {
    var state = byId("job-state");
    state.textContent = job.state;
    state.className = "badge badge-" + job.state;
    var bar = byId("job-progress");
    bar.max = job.progress.total || 1;
    bar.value = job.progress.total ? job.progress.done : (job.state === "succeeded" ? 1 : 0);
    text("job-message", job.progress.message || "");
    toggle("cancel-form", cancellable.indexOf(job.state) >= 0);
    toggle("retry-form", job.state === "failed");
    var result = job.result;
    toggle("job-result", !!result);
    if (result) {
      toggle("job-pdf-line", !!result.pdf_url);
      link("job-pdf", result.pdf_url);
      if (result.pdf_url) {
        text("job-pdf", "Download invoice " + result.number + " (PDF)");
        text("job-total", "— total " + result.total + " " + result.currency);
      }
      toggle("job-errors-line", !!(result.errors_url && result.rows_rejected));
      link("job-errors", result.errors_url);
      var holder = byId("job-summary");
      while (holder.firstChild) { holder.removeChild(holder.firstChild); }
      holder.appendChild(summary(result));
    }
    toggle("job-error", !!job.error);
    if (job.error) {
      text("job-error-message", job.error.message);
      var details = job.error.details || {};
      toggle("job-error-details-line", !!details.errors_url);
      link("job-error-errors", details.errors_url);
    }
    attempts(job.attempt_history);
  }

  function poll(etag) {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(statusUrl, { headers: headers, credentials: "same-origin" }).then(function (response) {
      var wait = Number(response.headers.get("Retry-After") || 1) * 1000;
      if (response.status === 200) {
        var next = response.headers.get("ETag");
        return response.json().then(function (job) {
          show(job);
          if (!isFinished(job.state)) { setTimeout(function () { poll(next); }, wait); }
        });
      }
      setTimeout(function () { poll(etag); }, response.status === 304 ? wait : 3000);
    }).catch(function () { setTimeout(function () { poll(etag); }, 3000); });
  }

  function stream() {
    var source = new EventSource(eventsUrl);
    text("job-live", "live");
    source.addEventListener("job", function (message) { show(JSON.parse(message.data)); });
    source.addEventListener("end", function () { source.close(); text("job-live", ""); });
    source.onerror = function () {
      // CONNECTING: the stream ended after its time limit and the browser reconnects by itself.
      if (source.readyState === EventSource.CLOSED) { text("job-live", "polling"); poll(null); }
    };
  }

  if (isFinished(byId("job-state").textContent)) { return; }
  if (window.EventSource && eventsUrl) { stream(); } else { poll(null); }
})();
