// Swagger UI for /openapi.json, from swagger-ui-bundle's files (no CDN, no inline script: the page's CSP holds).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
