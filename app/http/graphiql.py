"""GraphiQL served by the gateway itself, from npm files that scripts/setup-graphiql installs."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Mapping
from pathlib import Path
from string import Template

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

NODE_MODULES = Path(__file__).resolve().parent / "graphiql" / "node_modules"
EXAMPLES_FILE = Path(__file__).resolve().parents[2] / "docs" / "examples.md"
PREFIX = "/graphiql"

# Served name -> (npm package, file in it): UMD builds, which a page loads without a bundler.
ASSETS = {
    "react.production.min.js": ("react", "umd/react.production.min.js"),
    "react-dom.production.min.js": ("react-dom", "umd/react-dom.production.min.js"),
    "graphiql.min.js": ("graphiql", "graphiql.min.js"),
    "graphiql.min.css": ("graphiql", "graphiql.min.css"),
}
# Asset URLs carry the package version, so a year of caching never serves a stale file.
CACHE_CONTROL = "public, max-age=31536000, immutable"
DEFAULT_HEADERS = {"X-API-Key": "", "Authorization": "Bearer "}
DEFAULT_EXAMPLES = [
    (
        "The newest sessions",
        "query NewestSessions {\n"
        "  sessions(first: 5) {\n"
        "    totalCount\n"
        "    nodes { id provider status createdAt user { loginName } }\n"
        "  }\n"
        "}\n",
    )
]

_EXAMPLE = re.compile(r"((?:[^\n]+\n)*)\n```graphql\n(.*?)```", re.S)

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="$csp">
<title>session-gateway · GraphiQL</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="$css">
<style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
$scripts
<script>$boot</script>
</body>
</html>
""")

# A header left as its hint ("" or "Bearer ") is not sent: an empty credential is refused.
_BOOT = Template("""
const post = GraphiQL.createFetcher({
  url: window.location.origin + window.location.pathname,
});
const filled = ([, value]) => !["", "bearer"].includes(String(value).trim().toLowerCase());
// GraphiQL 3.9 keeps the previous tab's operation name after a tab switch; a name the query
// does not define is dropped, so the server runs the query's only operation.
const defines = (query, name) =>
  new RegExp(String.raw`\\b(query|mutation|subscription)\\s+$${name}\\b`).test(query ?? "");
// Subscriptions go over graphql-sse (distinct connections): POST with Accept:
// text/event-stream, each `next` event's data is one result (app/http/sse.py). GraphiQL shows an
// async iterable's results as they come, and returns it when the user stops the operation.
const subscribes = (query) =>
  /(^|})\\s*subscription\\b/.test(String(query ?? "").replace(/#[^\\n]*/g, ""));
async function* stream(params, headers) {
  const response = await fetch(window.location.origin + window.location.pathname, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(params),
  });
  if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    yield await response.json();
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        const lines = buffer.slice(0, end).split("\\n");
        buffer = buffer.slice(end + 2);
        const event = lines.find((l) => l.startsWith("event:"))?.slice(6).trim();
        const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
        if (event === "next") yield JSON.parse(data);
        if (event === "complete") return;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
const fetcher = (params, options) => {
  const named =
    params.operationName && !defines(params.query, params.operationName)
      ? { ...params, operationName: undefined }
      : params;
  const headers = Object.fromEntries(Object.entries(options?.headers ?? {}).filter(filled));
  return subscribes(named.query) ? stream(named, headers) : post(named, { ...options, headers });
};
ReactDOM.createRoot(document.getElementById("graphiql")).render(
  React.createElement(GraphiQL, {
    fetcher,
    defaultTabs: $tabs,
    defaultHeaders: $headers,
    headerEditorEnabled: true,
    defaultEditorToolsVisibility: "headers",
  })
);
""")

_MISSING = Template("""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>GraphiQL is not installed</title></head>
<body>
<h1>GraphiQL is not installed</h1>
<p>The gateway serves GraphiQL from files installed from npm into
<code>app/http/graphiql/node_modules</code>, and these are missing:</p>
<ul>$missing</ul>
<p>Install them with <code>scripts/setup-graphiql</code> (part of <code>scripts/setup</code>;
it needs Node.js and npm), then reload this page. No restart is needed.</p>
<p>The GraphQL endpoint itself works: POST queries to this URL.</p>
</body>
</html>
""")


def read_examples(document: Path = EXAMPLES_FILE) -> list[tuple[str, str]]:
    """(description, query) for each ```graphql block of `document`, or a built-in example."""
    text = document.read_text(encoding="utf-8") if document.is_file() else ""
    examples = [
        (" ".join(prose.split()).rstrip(":"), query) for prose, query in _EXAMPLE.findall(text)
    ]
    return examples or DEFAULT_EXAMPLES


EXAMPLES = read_examples()


def _asset_path(name: str, node_modules: Path) -> Path:
    package, file = ASSETS[name]
    return node_modules / package / file


def missing_assets(node_modules: Path = NODE_MODULES) -> list[Path]:
    """The asset files that scripts/setup-graphiql has not installed (yet)."""
    paths = [_asset_path(name, node_modules) for name in ASSETS]
    return [path for path in paths if not path.is_file()]


def _asset_url(name: str, node_modules: Path) -> str:
    package = ASSETS[name][0]
    manifest = json.loads((node_modules / package / "package.json").read_text(encoding="utf-8"))
    # Relative to the page at /graphql, so a path prefix added by a proxy still works.
    return html.escape(f"{PREFIX.lstrip('/')}/{name}?v={manifest['version']}")


def _json_for_script(value: object) -> str:
    return json.dumps(value).replace("<", "\\u003c")


def graphiql_html(
    examples: list[tuple[str, str]],
    headers: Mapping[str, str] = DEFAULT_HEADERS,
    node_modules: Path = NODE_MODULES,
) -> str:
    """The GraphiQL page: one tab per example, `headers` as the headers editor's starting text."""
    if missing := missing_assets(node_modules):
        # Paths below node_modules only: this page is public, the server's layout is not.
        names = [path.relative_to(node_modules).as_posix() for path in missing]
        items = "".join(f"<li><code>{html.escape(name)}</code></li>" for name in names)
        return _MISSING.substitute(missing=items)
    header_text = json.dumps(dict(headers), indent=2)
    tabs = [{"query": f"# {title}\n{query}", "headers": header_text} for title, query in examples]
    boot = _BOOT.substitute(tabs=_json_for_script(tabs), headers=_json_for_script(header_text))
    digest = base64.b64encode(hashlib.sha256(boot.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; script-src 'self' 'sha256-{digest}'; "
        "style-src 'self' 'unsafe-inline'; font-src data:; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'"
    )
    scripts = "\n".join(
        f'<script src="{_asset_url(name, node_modules)}"></script>'
        for name in ASSETS
        if name.endswith(".js")
    )
    css = _asset_url("graphiql.min.css", node_modules)
    return _PAGE.substitute(csp=csp, css=css, scripts=scripts, boot=boot)


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS or not (path := _asset_path(name, NODE_MODULES)).is_file():
        return PlainTextResponse("Not Found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": CACHE_CONTROL})


def graphiql_routes() -> list[BaseRoute]:
    """The routes serving GraphiQL's scripts and styles under /graphiql/."""
    return [Route(f"{PREFIX}/{{name}}", _asset)]
