"""wsgiref.handlers.CGIHandler running the generated application described by
argv[1] (JSON), for test/toolkit-python-diff.test.ts; test/apps/cgi-diff-app.ts
is the same application under our CGIHandler."""
import json
import sys
from wsgiref.handlers import CGIHandler

spec = json.loads(sys.argv[1])
FLAGS = ["url_scheme", "run_once", "multithread", "multiprocess"]


def app(environ, start_response):
    if spec["fail"] == "before":
        raise RuntimeError("boom")
    chunks = [c.encode("latin-1") for c in spec["chunks"]]
    if spec["read"]:
        n = environ.get("CONTENT_LENGTH", "")
        n = int(n) if n.isdigit() else 0
        stream = environ["wsgi.input"]
        chunks.insert(0, stream.read(n) if spec["read"] == "read" else stream.readline())
    if spec["echo"]:
        text = "".join(f"{k}={environ[k]}\n" for k in sorted(environ) if not k.startswith("wsgi."))
        for k in FLAGS:
            v = environ["wsgi." + k]
            text += f"{k}={int(v) if isinstance(v, bool) else v}\n"
        chunks.append(text.encode("latin-1"))
    writes = [w.encode("latin-1") for w in spec["writes"]]
    headers = [tuple(h) for h in spec["headers"]]
    if spec["cl"]:
        headers.append(("Content-Length", str(sum(map(len, writes + chunks)))))
    write = start_response(spec["status"], headers)
    for w in writes:
        write(w)
    if spec["gen"] or spec["fail"] == "after":
        def gen():
            for c in filter(None, chunks):  # no empty chunk: ours sends no headers for one (PEP 3333)
                yield c
                if spec["fail"] == "after" and c:
                    raise RuntimeError("boom after output")
        return gen()
    return chunks


CGIHandler().run(app)
