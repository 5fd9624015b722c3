// The job page follows its job by polling GET /api/jobs/<id> (with its ETag) until the job has finished.
(function () {
  "use strict";
  var section = document.getElementById("job");
  if (!section) { return; }
  var url = section.getAttribute("data-job-url");
  var etag = null;
  var finished = ["succeeded", "failed", "cancelled"];

  function text(id, value) { var node = document.getElementById(id); if (node) { node.textContent = value; } }

  function show(job) {
    var state = document.getElementById("job-state");
    state.textContent = job.state;
    state.className = "badge badge-" + job.state;
    var bar = document.getElementById("job-progress");
    bar.max = job.progress.total || 1;
    bar.value = job.progress.done;
    text("job-message", job.progress.message || "");
    if (job.result) {
      var result = document.getElementById("job-result");
      result.hidden = false;
      text("job-result-json", JSON.stringify(job.result, null, 2));
      if (job.result.pdf_url && !document.getElementById("job-pdf")) {
        var p = document.createElement("p");
        var link = document.createElement("a");
        link.id = "job-pdf";
        link.href = job.result.pdf_url;
        link.textContent = "Download " + job.result.number + " (PDF)";
        p.appendChild(link);
        p.appendChild(document.createTextNode(" — total " + job.result.total + " " + job.result.currency));
        result.insertBefore(p, document.getElementById("job-result-json"));
      }
    }
    if (job.error) {
      var error = document.getElementById("job-error");
      error.hidden = false;
      error.textContent = job.error.message;
    }
  }

  function poll() {
    var headers = etag ? { "If-None-Match": etag } : {};
    fetch(url, { headers: headers, credentials: "same-origin" }).then(function (response) {
      var wait = Number(response.headers.get("Retry-After") || 1) * 1000;
      if (response.status === 200) {
        etag = response.headers.get("ETag");
        return response.json().then(function (job) {
          show(job);
          if (finished.indexOf(job.state) < 0) { setTimeout(poll, wait); }
        });
      }
      if (response.status === 304) { setTimeout(poll, wait); }
    }).catch(function () { setTimeout(poll, 3000); });
  }

  if (finished.indexOf(document.getElementById("job-state").textContent) < 0) { poll(); }
})();
