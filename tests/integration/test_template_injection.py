"""No value from the inventory can change the syntax of a file the shipped playbooks write.

Property, for every template of the shipped playbooks (nginx, PHP, postfix): render it with hostile
values in every free-text field and playbook variable (bypassing the inventory's own checks, to test
the templates' defence by itself); either rendering stops with a problem located in the template, or
the file has exactly the structure it has with harmless values — the same nginx tokens, the same PHP
tokens (PHP's own tokenizer), the same postfix parameters (postconf's own parser).

Real parts: php (token_get_all) and postconf; nginx syntax by a small lexer of its grammar (nginx -t
would create the log files the site names).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaton_ops.adapters.templates import TemplateRenderer
from chaton_ops.core.playbook import builtin_playbooks_dir

PLAYBOOKS = builtin_playbooks_dir()
BASE_CONTEXT: dict[str, Any] = {
    "vars": {"server_name": "placeholder.example", "server_aliases": ["alias.example"], "index": "index.html",
             "php_version": "8.2", "title": "placeholder", "relay_domains": ["placeholder.example"],
             "relay_to": "[placeholder.example]:25", "myhostname": "placeholder.example",
             "mynetworks": ["10.0.0.0/8"], "inet_protocols": "all", "maillog_file": "/var/log/placeholder",
             "tls_cert": "/etc/placeholder.pem", "tls_key": "/etc/placeholder.key"},
    "service": {"name": "www", "tenant": "cigales", "priority": "normal", "playbook": "x", "data": ["/srv/placeholder"],
                "databases": [{"engine": "postgres", "name": "site", "user": None, "dump_file": "/x.sql"}]},
    "host": {"name": "vps", "address": "10.77.0.3", "kind": "fallback", "service_manager": "direct"},
    "tenant": {"name": "cigales", "contact": "c@cigales.example"},
    "data": ["/srv/placeholder"],
    "collective": {"name": "placeholder", "domain": "placeholder.example", "contact": "a@placeholder.example"},
}
# (the context key path, whether it is a list of strings)
HOSTILE_FIELDS = [(("vars", name), isinstance(value, list)) for name, value in BASE_CONTEXT["vars"].items()] + [
    (("collective", "name"), False), (("data",), True), (("service", "data"), True)]
TEMPLATES = sorted(str(path.relative_to(PLAYBOOKS)) for path in PLAYBOOKS.glob("*/*.j2"))
ATTACKS = ["x;\n    location /etc { root /; }\n#", "x; } server { listen 81; root /; #", '" ; root / ; "', "$document_root",
           "<?php system('id'); ?>", "?><?php system('id'); ?>", "'; system('id'); '", "\\'); system('id'); //",
           "x\nrelay_domains = evil.example", "x, evil.example", "x }\ninline:{ evil=relay:[attacker] }",
           "a\rb", "\u2028", "{{ 7 * 7 }}", "${x}", "a b", "\x00", "*/ ?> */"]
hostile = st.one_of(st.sampled_from(ATTACKS), st.text(max_size=30))


def kind_of(template: str) -> str:
    if template.endswith(".php.j2"):
        return "php"
    if template.endswith(".cf.j2"):
        return "postfix"
    if template.endswith(".sql.j2"):
        return "sql"
    return "nginx"


def nginx_tokens(text: str) -> list[str]:
    """The kinds of nginx's tokens: A (an argument: a word or a quoted string), ; { } — comments dropped."""
    kinds: list[str] = []
    index = 0
    while index < len(text):
        character = text[index]
        if character.isspace():
            index += 1
        elif character == "#":
            end = text.find("\n", index)
            index = len(text) if end < 0 else end
        elif character in ";{}":
            kinds.append(character)
            index += 1
        elif character in "\"'":
            index += 1
            while index < len(text) and text[index] != character:
                index += 2 if text[index] == "\\" else 1
            kinds.append("A")
            index += 1
        else:
            while index < len(text) and not text[index].isspace() and text[index] not in ";{}":
                index += 1
            kinds.append("A")
    return kinds


PHP_TOKENS = ("foreach (token_get_all(file_get_contents($argv[1])) as $t) "
              "{ if (is_array($t)) { if ($t[0] !== T_WHITESPACE) echo token_name($t[0]), \"\\n\"; } "
              "else echo $t, \"\\n\"; }")


def php_tokens(path: Path) -> list[str]:
    done = subprocess.run(["php", "-r", PHP_TOKENS, str(path)], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def postfix_parameters(folder: Path) -> list[str]:
    done = subprocess.run(["postconf", "-c", str(folder), "-n"], capture_output=True, text=True, check=False)
    return sorted(line.split("=", 1)[0].strip() for line in done.stdout.splitlines())


def structure(template: str, text: str, folder: Path) -> list[str]:
    kind = kind_of(template)
    if kind == "nginx":
        return nginx_tokens(text)
    if kind == "php":
        (folder / "index.php").write_text(text)
        return php_tokens(folder / "index.php")
    if kind == "postfix":
        (folder / "main.cf").write_text(text if template.endswith("main.cf.j2") else "")
        return postfix_parameters(folder) if template.endswith("main.cf.j2") else text.splitlines()
    return [line for line in text.splitlines() if not line.startswith("--")]


_BASELINES: dict[str, list[str]] = {}


def baseline_structure(template: str, folder: Path) -> list[str]:
    if template not in _BASELINES:
        _BASELINES[template] = structure(template, render(template, copy.deepcopy(BASE_CONTEXT)).text or "", folder)
    return _BASELINES[template]


def render(template: str, context: dict[str, Any]):
    folder, _, name = template.partition("/")
    return TemplateRenderer(PLAYBOOKS / folder).render_file(name, context)


def set_field(context: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = context
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


needs_tools = pytest.mark.skipif(not (shutil.which("php") and shutil.which("postconf")),
                                 reason="php and postconf are installed by `make deps` (scripts/install-lab-deps)")


@needs_tools
@pytest.mark.parametrize("template", TEMPLATES)
def test_the_templates_render_with_harmless_values(tmp_path: Path, template: str) -> None:
    rendered = render(template, copy.deepcopy(BASE_CONTEXT))
    assert rendered.problem is None, rendered.problem
    assert structure(template, rendered.text or "", tmp_path)


@needs_tools
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.sampled_from(TEMPLATES), field=st.sampled_from(HOSTILE_FIELDS), value=hostile)
def test_no_value_changes_the_structure_of_a_shipped_template(tmp_path: Path, template: str,
                                                             field: tuple[tuple[str, ...], bool], value: str) -> None:
    path, is_list = field
    context = copy.deepcopy(BASE_CONTEXT)
    set_field(context, path, [value] if is_list else value)
    rendered = render(template, context)
    if rendered.problem is not None:
        assert rendered.problem.file.endswith(template.split("/")[-1]) and rendered.problem.line, rendered.problem
        return
    assert structure(template, rendered.text or "", tmp_path) == baseline_structure(template, tmp_path), rendered.text


@needs_tools
@pytest.mark.parametrize(("template", "field", "value"), [
    ("static-site/site.conf.j2", ("vars", "server_name"), "www.t.example;\n    location /etc { root /; }\n#"),
    ("php-pages/index.php.j2", ("collective", "name"), "<?php system('id'); ?>"),
    ("php-pages/index.php.j2", ("vars", "title"), "'; system('id'); //"),
    ("postfix-relay/main.cf.j2", ("vars", "relay_to"), "[x]:25 }\nrelay_domains = evil.example"),
])
def test_the_injections_found_by_the_review_do_not_reach_the_file(tmp_path: Path, template: str,
                                                                  field: tuple[str, ...], value: str) -> None:
    context = copy.deepcopy(BASE_CONTEXT)
    set_field(context, field, value)
    rendered = render(template, context)
    if rendered.problem is None:  # written, but only inside a string literal or a comment
        text = rendered.text or ""
        assert structure(template, text, tmp_path) == baseline_structure(template, tmp_path), text
    else:
        assert "cannot" in rendered.problem.message or "not a DNS name" in rendered.problem.message
