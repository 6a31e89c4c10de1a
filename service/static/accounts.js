// The account form shows only the binding of the chosen role (all of them stay in the page without JS).
document.addEventListener("DOMContentLoaded", () => {
  const select = document.querySelector("[data-role-select]");
  if (!select) return;
  const show = () => {
    document.querySelectorAll("[data-binding-role]").forEach((fieldset) => {
      fieldset.hidden = fieldset.dataset.bindingRole !== select.value;
    });
  };
  select.addEventListener("change", show);
  show();
});
