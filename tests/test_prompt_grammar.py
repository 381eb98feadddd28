"""One prompt grammar (`text:weight:stop`, `core.parse_prompt`) on every path a prompt takes: the API (`make_targets`),
a schedule (text, CSV, LRC), the command line and the studio. Property tests: any text that reads as itself keeps its
text, weight and stop on each path."""
import csv, io
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from metamusic.core import parse_prompt, format_prompt, ParameterError
from metamusic.audio import load_prompts, PromptSchedule

# Texts a person types: a letter first (an untimed schedule line must not start like a time: "12", "b16"), then letters, digits,
# spaces and the punctuation that trips naive parsers (":", ".", "/", "\\", "-"); never "|" (it separates prompts).
_first = st.sampled_from("acxyzACé城")   # not "b": "b16" starts a line as a beat
_rest = st.text(alphabet="abc XYZ019:./\\-_,é城", max_size=24)
texts = st.builds(lambda a, b: (a + b).strip(), _first, _rest).filter(lambda t: parse_prompt(t) == (t, 1.0, None))
weights = st.floats(-10, 10, allow_nan=False, allow_infinity=False) | st.sampled_from([1.0, 0.5, -1.0, 0.0])
stops = st.none() | st.floats(0, 4, allow_nan=False, allow_infinity=False)
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

def test_the_issue_example():
    "A schedule line `storm:1:0.5` is the text `storm`, weight 1, stop 0.5, as the engine reads it."
    assert parse_prompt("storm:1:0.5") == ("storm", 1.0, 0.5)
    assert load_prompts("0:00 storm:1:0.5").active(0) == [("storm", 1.0, 0.5)]

@FAST
@given(texts, weights, stops)
def test_string_round_trip(text, weight, stop):
    assert parse_prompt(format_prompt(text, weight, stop)) == (text, weight, stop)

@FAST
@given(texts, weights, stops)
def test_schedule_text_round_trip(text, weight, stop):
    line = format_prompt(text, weight, stop)
    assert load_prompts(f"0:00 {line}\n0:05 {line} | other:0.5").active(6) == [(text, weight, stop), ("other", 0.5, None)]
    assert load_prompts([line]).active(0) == [(text, weight, stop)]            # untimed lines start at 0:00

@FAST
@given(st.text(alphabet="abc XYZ019:./\\-_,\"'é城|", min_size=1, max_size=24).filter(str.strip), weights, stops)
def test_schedule_csv_round_trip(tmp_path_factory, text, weight, stop):
    "CSV keeps its text column as it is (colons, quotes and bars included); weight and stop have their own columns."
    f = tmp_path_factory.mktemp("csv") / "p.csv"
    b = io.StringIO(); csv.writer(b).writerow(["0:00", text, repr(weight), "" if stop is None else repr(stop)])
    f.write_text("time,text,weight,stop\n" + b.getvalue())
    assert load_prompts(f).active(0) == [(text.strip(), weight, stop)]

@FAST
@given(st.text(alphabet="abc XYZ019:./\\-_,é城|", min_size=1, max_size=24).filter(str.strip))
def test_schedule_lrc_round_trip(text):
    "A lyric line is text as it is (weight 1, no stop): words are never read as weights."
    sched = PromptSchedule.from_lrc(f"[ti:song]\n[00:01.50]{text}\n")
    assert [(p.time, p.text, p.weight, p.stop) for p in sched] == [(1.5, text.strip(), 1.0, None)]

@pytest.fixture(scope="module")
def models():
    from metamusic.models import load_models
    return load_models("cpu", untrained="tiny")

@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts, weights, stops)
def test_api_targets_round_trip(models, text, weight, stop):
    "`make_targets` reads a prompt string and a schedule's (text, weight, stop) into the same target."
    from metamusic.engine import make_targets
    a, = make_targets(models, format_prompt(text, weight, stop))
    b, = make_targets(models, [load_prompts(f"0 {format_prompt(text, weight, stop)}").active(0)[0]])
    for t in (a, b): assert (t.label, t.weight, t.stop) == (text, weight, stop)
    assert (a.embed == b.embed).all()

@FAST
@given(texts, weights, stops)
def test_cli_round_trip(text, weight, stop):
    "`--prompt` hands the string to `picture` untouched, and it parses back."
    from metamusic.cli import build_parser
    s = format_prompt(text, weight, stop)
    args = build_parser().parse_args(["picture", "demo", "--prompt", s, "--prompt", "b:2"])
    assert [parse_prompt(p) for p in args.prompt] == [(text, weight, stop), ("b", 2.0, None)]

@FAST
@given(texts, weights, stops, st.sampled_from(["picture", "video"]))
def test_studio_round_trip(text, weight, stop, mode):
    "The studio's prompt box: a picture's prompts go to the engine's parser, a video's to the schedule; both read the same."
    from metamusic.widgets import studio_call
    s = format_prompt(text, weight, stop)
    call = studio_call(dict(source="song.wav", mode=mode, prompts=f"{s}\n\n"))
    assert call.kwargs["prompts"] == [s]
    got = parse_prompt(s) if mode == "picture" else load_prompts(call.kwargs["prompts"]).active(0)[0]
    assert got == (text, weight, stop)

def test_bad_prompts_name_their_line():
    with pytest.raises(ParameterError, match="line 2"): load_prompts("0 ok\n1 :0.5")
    with pytest.raises(ParameterError, match="no text"): parse_prompt(" :1:2")
