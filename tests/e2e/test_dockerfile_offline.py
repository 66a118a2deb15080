"""The Dockerfile builds on an air-gapped engine: no BuildKit frontend to pull, nothing only BuildKit parses."""

import re

from tests.services import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
# Parser directives are comment lines `# key=value` before the first instruction, blank line or other comment.
DIRECTIVE = re.compile(r"#\s*(\w+)\s*=\s*(\S+)")
# Flags and forms the classic builder rejects (BuildKit's Dockerfile frontend only).
BUILDKIT_ONLY = re.compile(
    r"^\s*(RUN\s+--(mount|network|security)=|COPY\s+--(link|parents|exclude)\b|\w+\s+<<)", re.M | re.I
)


def test_no_syntax_directive_that_makes_buildkit_pull_a_frontend_image():
    directives = {}
    for line in DOCKERFILE.splitlines():
        m = DIRECTIVE.fullmatch(line.strip())
        if not m:
            break
        directives[m.group(1).lower()] = m.group(2)
    assert "syntax" not in directives, f"# syntax={directives['syntax']} pulls a frontend image at build time"


def test_no_buildkit_only_instruction_so_the_classic_builder_builds_it():
    assert not BUILDKIT_ONLY.findall(DOCKERFILE), BUILDKIT_ONLY.findall(DOCKERFILE)
