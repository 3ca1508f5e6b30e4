"""Issue bodies become compact model input: no markdown noise, code and logs trimmed, in budget."""

from __future__ import annotations

import pytest

from adapterflow.prepare.normalise import (
    count_tokens,
    normalise_markdown,
    normalise_text,
    trim_to_tokens,
)


def test_crlf_and_template_comments_disappear():
    body = (
        "<!-- Search existing issues first -->\r\n### Tested versions\r\n\r\n\r\n\r\n4.3 stable\r\n"
    )
    assert normalise_markdown(body, 12, 200) == "Tested versions\n\n4.3 stable"


def test_images_and_links_keep_only_their_text():
    body = (
        "See ![screenshot of bug](https://x/y.png) and [the docs](https://docs.godotengine.org/a)."
    )
    assert normalise_markdown(body, 12, 200) == "See [image: screenshot of bug] and the docs."


def test_long_code_block_is_trimmed_with_a_note_of_what_was_cut():
    log = "\n".join(f"frame {i}" for i in range(40))
    body = f"It crashed:\r\n```text\r\n{log}\r\n```\r\nAfter the log."
    out = normalise_markdown(body, 3, 200)
    assert (
        out
        == "It crashed:\n```text\nframe 0\nframe 1\nframe 2\n… (37 more lines)\n```\nAfter the log."
    )


def test_indented_and_unclosed_code_blocks_are_trimmed_too():
    indented = "Trace:\n\n" + "\n".join(f"    at line {i}" for i in range(10))
    assert normalise_markdown(indented, 2, 200).endswith("at line 1\n… (8 more lines)\n```")
    unclosed = "Log:\n~~~\n" + "\n".join(str(i) for i in range(10))
    assert "… (7 more lines)" in normalise_markdown(unclosed, 3, 200)


def test_markdown_syntax_inside_code_is_left_alone():
    body = "```\n# not a heading\n[x](y)\n```"
    assert normalise_markdown(body, 10, 200) == "```\n# not a heading\n[x](y)\n```"


def test_overlong_code_lines_are_cut_but_prose_is_kept_whole():
    prose = "word " * 100 + "It happens every time."
    out = normalise_markdown(f"{prose}\n```\n{'x' * 500}\n```", 12, 50)
    assert out == f"{prose.strip()}\n```\n{'x' * 50} …\n```"


@pytest.mark.parametrize("empty", [None, "", "\r\n  \r\n", "<!-- only a template -->"])
def test_empty_bodies_normalise_to_empty(empty):
    assert normalise_markdown(empty, 12, 200) == ""


def test_titles_and_abstracts_collapse_whitespace():
    assert normalise_text("  Deep\r\n  learning\tfor\x00 graphs ") == "Deep learning for graphs"
    assert normalise_text(None) == ""


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_text_within_budget_is_unchanged(tokenizer):
    text = "the game crash in menu"
    assert trim_to_tokens(tokenizer, text, 50) == (text, count_tokens(tokenizer, text))


def test_text_over_budget_is_cut_at_a_token_boundary_and_fits(tokenizer):
    text = " ".join(["audio sound graphics rendering"] * 30)
    trimmed, n = trim_to_tokens(tokenizer, text, 17)
    assert n <= 17 and n == count_tokens(tokenizer, trimmed)
    assert trimmed.endswith(" …") and text.startswith(trimmed[:-2])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'Broken: <img width="812" alt="Screenshot 2024-05-01" src="https://github.com/u/a.png">',
            "Broken: [image: Screenshot 2024-05-01]",
        ),
        ('<img src="https://github.com/u/a.png" />', "[image]"),
        ("<details><summary>Log</summary>\n\nIt fails.<br/>\n</details>", "Log\n\nIt fails."),
        ('<p align="center"><b>Bold</b> text</p>', "Bold text"),
        ('<video src="https://github.com/u/a.mp4"></video>', "[video]"),
    ],
)
def test_html_tags_never_reach_the_model_input(body, expected):
    assert normalise_markdown(body, 12, 200) == expected


def test_angle_brackets_that_are_no_html_and_html_inside_code_are_kept():
    assert normalise_markdown("Vec<T> and Option<Box<dyn Any>> fail", 12, 200) == (
        "Vec<T> and Option<Box<dyn Any>> fail"
    )
    assert normalise_markdown("```html\n<img src=x>\n```", 12, 200) == "```html\n<img src=x>\n```"
