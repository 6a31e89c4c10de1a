// Starts Swagger UI on the docs page from its data attributes (no inline script under the CSP).
document.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  if (!root || typeof SwaggerUIBundle === "undefined") return;
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // The online validator badge would call swagger.io: nothing leaves the intranet.
    validatorUrl: null,
    ...JSON.parse(root.dataset.config || "{}"),
  });
});
