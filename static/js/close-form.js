// The close form: show the competitor only when the reason asks for one, mark the note
// as required when it does, show the reason's help text and pre-fill "revisit on".
(function () {
  "use strict";
  const form = document.querySelector("form.close-form");
  if (!form) return;
  const reason = form.querySelector("#id_reason");
  const competitorGroup = form.querySelector("#competitor-group");
  const competitor = form.querySelector("#id_competitor");
  const noteLabel = form.querySelector("label[for='id_note']");
  const help = form.querySelector("#reason-help");
  const revisit = form.querySelector("#id_revisit_on");
  let revisitTouched = revisit ? revisit.value !== "" : true;
  if (revisit) revisit.addEventListener("input", function () { revisitTouched = true; });

  function isoDateInDays(days) {
    const when = new Date();
    when.setDate(when.getDate() + days);
    const pad = (n) => String(n).padStart(2, "0");
    return when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate());
  }

  function setRequiredMark(label, required) {
    if (!label) return;
    let mark = label.querySelector(".required-mark");
    if (required && !mark) {
      mark = document.createElement("span");
      mark.className = "required-mark text-danger";
      mark.textContent = " (required for this reason)";
      label.appendChild(mark);
    } else if (!required && mark) {
      mark.remove();
    }
  }

  function update() {
    const option = reason.options[reason.selectedIndex];
    const data = option ? option.dataset : {};
    const needsCompetitor = data.requiresCompetitor === "true";
    const hasCompetitor = competitor && competitor.value !== "";
    if (competitorGroup) competitorGroup.classList.toggle("is-hidden", !needsCompetitor && !hasCompetitor);
    setRequiredMark(form.querySelector("label[for='id_competitor']"), needsCompetitor);
    setRequiredMark(noteLabel, data.requiresNote === "true");
    if (help) help.textContent = data.help || "";
    if (revisit && !revisitTouched) {
      revisit.value = data.reopenDays ? isoDateInDays(parseInt(data.reopenDays, 10)) : "";
    }
  }

  reason.addEventListener("change", update);
  update();
})();
