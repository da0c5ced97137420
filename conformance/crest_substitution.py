"""pytest plugin: run skorch's own tests with CrestClassifier in place of
NeuralNetClassifier, and record every test's outcome as JSON.

``run_skorch_suite.py`` loads it with ``-p crest_substitution`` (with
``conformance/`` on ``sys.path``); the options it adds are meant for that
script:

``--crest-selection MODE``
    The ``selection`` of the substituted classifier for this run.
``--crest-skorch-tests DIR``
    skorch's ``tests`` directory as unpacked from the sdist.
``--crest-outcomes FILE``
    Where to write the outcomes (JSON), read by ``run_skorch_suite.py``.

skorch's test modules import the classifier inside fixtures
(``from skorch import NeuralNetClassifier``), so replacing the attribute of the
``skorch`` package before collection is enough. ``skorch.classifier`` is left
alone on purpose: ``NeuralNetClassifier`` calls ``super(NeuralNetClassifier,
self)`` through that module's global, so replacing it there would send the
original class's ``__init__`` into our subclass again (infinite recursion).

So that a run cannot pass without testing CrestClassifier, the plugin refuses
to run when skorch was imported from the sdist instead of the installed
package, fails any test whose ``net_cls`` fixture still returns skorch's own
class, and records which tests built or fitted the substitute.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

# Imported when pytest loads the plugin, before it puts the sdist's root (which
# holds a copy of skorch) on sys.path for the tests: skorch is the installed
# library from here on.
import sklearn_crest

# Filled in by pytest_load_initial_conftests.
_state = {
    "selection": None,
    "class": None,
    "original": None,
    # Tests during whose setup or call an instance of the substituted class was
    # created or initialized: proof that the run exercised CrestClassifier.
    "current_test": None,
    "tests_using_crest": set(),
    "net_cls_fixtures": {},
}


def pytest_addoption(parser):
    group = parser.getgroup("crest-conformance")
    group.addoption("--crest-selection", metavar="MODE",
                    help="selection mode of the substituted CrestClassifier")
    group.addoption("--crest-skorch-tests", metavar="DIR",
                    help="skorch's tests directory from the unpacked sdist")
    group.addoption("--crest-outcomes", metavar="FILE",
                    help="write the test outcomes to this JSON file")


def _note_use():
    if _state["current_test"] is not None:
        _state["tests_using_crest"].add(_state["current_test"])


class CrestClassifier(sklearn_crest.CrestClassifier):
    """CrestClassifier with skorch's classifier conventions and the run's
    ``selection`` as default.

    skorch's toy modules end in softmax and NeuralNetClassifier's default
    criterion is NLLLoss (applied to the log of the probabilities); with
    ``criterion=torch.nn.NLLLoss`` CrestClassifier does the same. Everything
    else keeps CrestClassifier's defaults, since those are what users get.

    The class lives at module level, under CrestClassifier's name, so that
    pickling tests can find it again; ``set_selection`` changes the default of
    ``selection`` for the run.
    """

    def __init__(self, module, *args, criterion=torch.nn.NLLLoss,
                 selection="per_step", **kwargs):
        super().__init__(module, *args, criterion=criterion,
                         selection=selection, **kwargs)
        _note_use()

    def initialize(self):
        # Module-scoped fixtures build their net before the first test that
        # uses them; initializing (fitting) it inside a test counts as use too.
        _note_use()
        return super().initialize()

    @classmethod
    def set_selection(cls, selection):
        cls.__init__.__kwdefaults__["selection"] = selection


def _use_sdist_tests(tests_dir):
    """Make ``skorch.tests`` the sdist's test package, keeping the installed
    ``skorch`` library.

    The sdist's tests are a subpackage of the sdist's own copy of skorch, so
    pytest imports them as ``skorch.tests.*``. The installed skorch (which
    CrestClassifier subclasses) may ship a ``tests`` subpackage of its own, and
    pytest refuses a conftest imported from another file. Registering the
    sdist's directory as ``skorch.tests`` makes every ``skorch.tests.*`` import
    (pytest's and the tests' own ``from skorch.tests.conftest import ...``)
    resolve to the sdist, while ``skorch`` itself stays the installed library.
    """
    import skorch

    tests_dir = Path(tests_dir).resolve()
    spec = importlib.util.spec_from_file_location(
        "skorch.tests", tests_dir / "__init__.py",
        submodule_search_locations=[str(tests_dir)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["skorch.tests"] = module
    spec.loader.exec_module(module)
    skorch.tests = module


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # Runs before skorch's conftest.py is imported, so that the conftest and
    # every test module see the substitution.
    options = early_config.known_args_namespace
    if not options.crest_selection or not options.crest_skorch_tests:
        raise pytest.UsageError(
            "crest_substitution needs --crest-selection and --crest-skorch-tests")
    import skorch

    tests_dir = Path(options.crest_skorch_tests).resolve()
    if Path(skorch.__file__).resolve().parent == tests_dir.parent:
        # The run would test the sdist's copy of skorch, not the installed
        # library that CrestClassifier subclasses.
        raise pytest.UsageError(
            f"skorch was imported from the sdist ({skorch.__file__}), not from "
            "the installed package")
    _use_sdist_tests(tests_dir)
    _state["selection"] = options.crest_selection
    _state["original"] = skorch.NeuralNetClassifier
    CrestClassifier.set_selection(options.crest_selection)
    _state["class"] = CrestClassifier
    skorch.NeuralNetClassifier = CrestClassifier


def pytest_report_header(config):
    cls = _state["class"]
    import skorch

    return (f"crest-conformance: skorch.NeuralNetClassifier is "
            f"{cls.__module__}.{cls.__name__} (a CrestClassifier subclass, "
            f"selection={_state['selection']!r}); skorch from "
            f"{Path(skorch.__file__).parent}")


# ----------------------------------------------------------------- outcomes
_collected = []
_selected = []
_outcomes = {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    # Before -k deselects anything: the full list tells a renamed test from a
    # deselected one.
    _collected.extend(item.nodeid for item in items)


def pytest_collection_finish(session):
    _selected.extend(item.nodeid for item in session.items)


def pytest_collectreport(report):
    if report.failed:
        _outcomes[report.nodeid] = {"outcome": "error", "duration": 0.0,
                                    "excerpt": _excerpt(report.longreprtext)}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _state["current_test"] = item.nodeid
    yield
    _state["current_test"] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    outcome = yield
    if fixturedef.argname == "net_cls":
        try:
            cls = outcome.get_result()
        except BaseException:  # noqa: BLE001 - pytest.skip() and friends too
            return  # the fixture's own error is reported by pytest
        name = f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', cls)}"
        fixtures = _state["net_cls_fixtures"]
        fixtures[name] = fixtures.get(name, 0) + 1
        if cls is _state["original"]:
            raise AssertionError(
                "a net_cls fixture returned skorch's own NeuralNetClassifier: "
                "the substitution did not reach this test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # The excerpt comes from the exception itself, whatever the traceback
    # style of the log.
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed:
        report.crest_excerpt = _excerpt(call.excinfo.exconly())


def pytest_runtest_logreport(report):
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed",
                                                  "duration": 0.0})
    entry["duration"] = round(entry["duration"] + report.duration, 3)
    excerpt = getattr(report, "crest_excerpt", None)
    if excerpt is None and report.failed:
        excerpt = _excerpt(report.longreprtext)
    if report.when == "call":
        # The call decides, unless setup already errored. A rerun (flaky)
        # reports again, and the last report wins.
        if hasattr(report, "wasxfail"):
            entry["outcome"] = "xpassed" if report.passed else "xfailed"
        else:
            entry["outcome"] = report.outcome
        entry.pop("excerpt", None)
        if report.failed:
            entry["excerpt"] = excerpt
    elif report.failed:
        # A failing setup or teardown is an error, as pytest counts it; a
        # failed call stays a failure.
        if entry["outcome"] != "failed":
            entry["outcome"] = "error"
            entry["excerpt"] = excerpt
    elif report.skipped and report.when == "setup":
        entry["outcome"] = "xfailed" if hasattr(report, "wasxfail") else "skipped"


def _excerpt(text, max_lines=6, max_chars=600):
    """The first lines of an error message, short."""
    lines = [line.rstrip() for line in (text or "").strip().splitlines()]
    return "\n".join(lines[:max_lines])[:max_chars]


def pytest_sessionfinish(session, exitstatus):
    path = session.config.getoption("crest_outcomes")
    if not path:
        return
    import skorch

    cls = _state["class"]
    data = {
        "selection": _state["selection"],
        "substitute": None if cls is None else f"{cls.__module__}.{cls.__qualname__}",
        "substitute_is_crest": bool(
            cls is not None and issubclass(cls, sklearn_crest.CrestClassifier)),
        "skorch_version": skorch.__version__,
        "skorch_location": str(Path(skorch.__file__).parent),
        "net_cls_fixtures": _state["net_cls_fixtures"],
        "tests_using_crest": sorted(_state["tests_using_crest"]),
        "collected": _collected,
        "selected": _selected,
        "outcomes": _outcomes,
        "exitstatus": int(exitstatus),
    }
    Path(path).write_text(json.dumps(data, indent=1))

