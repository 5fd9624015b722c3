// The new-invoice form: add and remove line-item rows. Without JavaScript the form still works with its blank rows.
(function () {
  "use strict";
  var table = document.getElementById("lines");
  var add = document.getElementById("add-line");
  if (!table || !add) { return; }
  var body = table.tBodies[0];

  function renumber() {
    Array.prototype.forEach.call(body.rows, function (row, index) {
      Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
        var name = input.name.replace(/^items-\d+-/, "items-" + index + "-");
        input.name = name;
        input.id = name;
        input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(index + 1)));
      });
      var remove = row.querySelector(".remove-line");
      if (remove) { remove.setAttribute("aria-label", "Remove line " + (index + 1)); }
    });
  }

  add.addEventListener("click", function () {
    var template = body.rows[body.rows.length - 1];
    var row = template.cloneNode(true);
    Array.prototype.forEach.call(row.querySelectorAll("input"), function (input) {
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    });
    Array.prototype.forEach.call(row.querySelectorAll(".field-error"), function (error) { error.remove(); });
    body.appendChild(row);
    renumber();
    row.querySelector("input").focus();
  });

  body.addEventListener("click", function (event) {
    var button = event.target.closest(".remove-line");
    if (!button) { return; }
    if (body.rows.length > 1) {
      button.closest("tr").remove();
    } else {
      Array.prototype.forEach.call(body.rows[0].querySelectorAll("input"), function (input) { input.value = ""; });
    }
    renumber();
    add.focus();
  });
})();
