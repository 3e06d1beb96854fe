"""Differential oracle for test/toolkit-python-diff.test.ts.

Reads one JSON case per line on stdin and writes one JSON result per line:
wsgiref.util, wsgiref.headers and cheroot.wsgi.PathInfoDispatcher run on the
case, errors reported by exception class name.
"""
import json
import sys
from wsgiref import util
from wsgiref.headers import Headers, _formatparam


# What our port throws for each (docs/toolkit/README.md, util.md, headers.md).
AS_OURS = {"UnicodeEncodeError": "TypeError", "AssertionError": "TypeError", "ValueError": "TypeError"}


def err(e):
    name = type(e).__name__
    return {"error": AS_OURS.get(name, name)}


def uri(case):
    env = dict(case["env"])
    env["wsgi.url_scheme"] = env.pop("tsgi.url_scheme")
    out = {}
    for key, fn in (("app", lambda: util.application_uri(env)),
                    ("req", lambda: util.request_uri(env, case["q"]))):
        try:
            out[key] = fn()
        except Exception as e:  # noqa: BLE001
            out[key] = err(e)
    return out


def setup(case):
    env = {("wsgi." + k[5:] if k.startswith("tsgi.") else k): v for k, v in case["env"].items()}
    util.setup_testing_defaults(env)
    out = {}
    for k, v in env.items():
        k = "tsgi." + k[5:] if k.startswith("wsgi.") else k
        if isinstance(v, str):
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
        elif isinstance(v, (int, bool)):
            out[k] = bool(v)
        else:
            out[k] = "<object>"
    return out


def headers(case):
    lst = [tuple(p) for p in case["list"]]
    h = Headers(lst)
    results = []
    for op in case["ops"]:
        try:
            kind = op[0]
            if kind == "get":
                results.append(h.get(op[1]))
            elif kind == "getdef":
                results.append(h.get(op[1], op[2]))
            elif kind == "getAll":
                results.append(h.get_all(op[1]))
            elif kind == "has":
                results.append(op[1] in h)
            elif kind == "set":
                h[op[1]] = op[2]
                results.append(None)
            elif kind == "delete":
                del h[op[1]]
                results.append(None)
            elif kind == "setdefault":
                results.append(h.setdefault(op[1], op[2]))
            elif kind == "addHeader":
                h.add_header(op[1], op[2], **dict(op[3]))
                results.append(None)
            elif kind == "formatParam":
                results.append(_formatparam(op[1], op[2], op[3]))
        except Exception as e:  # noqa: BLE001
            results.append(err(e))
    try:
        raw = bytes(h).decode("latin-1")
    except Exception as e:  # noqa: BLE001
        raw = err(e)
    return {"results": results, "list": [list(p) for p in h.items()],
            "len": len(h), "keys": h.keys(), "values": h.values(),
            "str": str(h), "bytes": raw}


def dispatch(case):
    from cheroot.wsgi import PathInfoDispatcher
    apps = []
    for i, p in enumerate(case["mounts"]):
        apps.append((p, (lambda i: lambda env, sr: [i, env.get("SCRIPT_NAME"), env["PATH_INFO"]])(i)))
    d = PathInfoDispatcher(dict(apps) if case["dict"] else apps)
    env = dict(case["env"])
    seen = []
    res = d(env, lambda status, hs: seen.append([status, [list(x) for x in hs]]))
    out = {"apps": [p for p, _ in d.apps], "env": env}
    if seen:
        out["notFound"] = seen[0]
    else:
        out["app"] = res[0]
        out["SCRIPT_NAME"] = res[1]
        out["PATH_INFO"] = res[2]
    return out


def main():
    kinds = {"uri": uri, "setup": setup, "headers": headers, "dispatch": dispatch,
             "guess": lambda c: util.guess_scheme(c["env"]),
             "hop": lambda c: util.is_hop_by_hop(c["name"])}
    for line in sys.stdin:
        case = json.loads(line)
        try:
            out = {"ok": kinds[case["kind"]](case)}
        except Exception as e:  # noqa: BLE001
            out = err(e)
        sys.stdout.write(json.dumps(out) + "\n")


main()
