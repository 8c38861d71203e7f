"""Plugin discovery through the ``parjob`` entry-point group, with real (temporary) dists."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from parjob import (
    Parallel,
    PluginError,
    UnknownBackendError,
    delayed,
    list_backends,
    parallel_config,
    plugins,
    register_parallel_backend,
)
from parjob.backends.threads import ThreadingBackend
from parjob.testing import square

PLUGIN = """
import parjob
from parjob.backends.threads import ThreadingBackend

class {cls}(ThreadingBackend):
    name = "{backend}"

@parjob.hookimpl
def register_backends(register):
    register("{backend}", {cls}, contract={contract})
"""


def make_dist(root: Path, dist: str, module: str, source: str) -> None:
    """A minimal installed distribution: a module and a dist-info with its entry point."""
    (root / f"{module}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[parjob]\n{module} = {module}\n")


def make_plugin(root: Path, backend: str, contract: int = 1) -> None:
    """An installed plugin ``fakeplug-<backend>`` that registers backend ``backend``."""
    source = PLUGIN.format(cls=backend.title(), backend=backend, contract=contract)
    make_dist(root, f"fakeplug-{backend}", f"fakeplug_{backend}", source)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins._reset_for_tests()
    yield tmp_path
    plugins._reset_for_tests()
    for name in [m for m in sys.modules if m.startswith("fakeplug")]:
        del sys.modules[name]


def test_builtins_register_through_the_hook() -> None:
    entries = plugins.entries()
    assert entries["sequential"].source == "parjob"
    assert entries["threading"].source == "parjob"


def test_installed_plugin_is_found_without_registration(site: Path) -> None:
    make_plugin(site, "good")
    assert "good" in list_backends()
    entry = plugins.entries()["good"]
    assert (entry.source, entry.version) == ("fakeplug-good", "1.2.3")
    with parallel_config("good", n_jobs=2):
        assert Parallel()(delayed(square)(i) for i in range(5)) == [0, 1, 4, 9, 16]


def test_incompatible_contract_gets_a_clear_message(site: Path) -> None:
    make_plugin(site, "future", contract=99)
    assert "future" not in list_backends()
    with pytest.raises(PluginError) as info:
        Parallel(backend="future")
    message = str(info.value)
    assert "fakeplug-future 1.2.3" in message and "contract 99" in message
    assert "speaks contract 1" in message


def test_plugin_that_fails_to_import_does_not_break_others(site: Path) -> None:
    make_dist(site, "fakeplug-broken", "fakeplug_broken", "raise ImportError('no engine')\n")
    make_plugin(site, "good")
    assert "good" in list_backends()
    broken = {b.name: b for b in plugins.broken_plugins()}
    assert "no engine" in broken["fakeplug_broken"].error


def test_load_plugins_env_selects_plugins(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_plugin(site, "a")
    make_plugin(site, "b")
    monkeypatch.setenv("PARJOB_LOAD_PLUGINS", "fakeplug-a")
    names = list_backends()
    assert "a" in names and "b" not in names
    assert {"sequential", "threading"} <= set(names)


def test_empty_load_plugins_env_loads_only_builtins(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin(site, "a")
    monkeypatch.setenv("PARJOB_LOAD_PLUGINS", "")
    assert list_backends() == ["sequential", "threading"]


def test_runtime_registration_wins_over_plugin(site: Path) -> None:
    make_plugin(site, "good")

    class Mine(ThreadingBackend):
        name = "good"

    register_parallel_backend("good", Mine)
    assert isinstance(Parallel(backend="good").backend, Mine)


def test_make_default(site: Path) -> None:
    class Mine(ThreadingBackend):
        name = "mine"

    register_parallel_backend("mine", Mine, make_default=True)
    assert isinstance(Parallel(n_jobs=2).backend, Mine)


def test_unknown_backend_lists_installed_and_install_hint(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no plugin installed at all (an empty PARJOB_LOAD_PLUGINS would name the filter instead)
    monkeypatch.delenv("PARJOB_LOAD_PLUGINS", raising=False)
    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [])
    plugins._reset_for_tests()
    with pytest.raises(UnknownBackendError) as info:
        Parallel(backend="dask")
    message = str(info.value)
    assert "sequential" in message and "threading" in message
    assert 'pip install "parjob[dask]"' in message
    with pytest.raises(UnknownBackendError) as info:
        Parallel(backend="ray")
    assert 'pip install "parjob[ray]"' in str(info.value)
    with pytest.raises(UnknownBackendError) as info:
        Parallel(backend="spark")
    assert 'pip install "parjob[spark]"' in str(info.value)
    # no hint for a backend without a plugin of ours (an extra that does not exist)
    with pytest.raises(UnknownBackendError) as info:
        Parallel(backend="mpi")
    assert "pip install" not in str(info.value)
    with pytest.raises(ValueError, match="register_parallel_backend"):
        Parallel(backend="no-such-thing")


def test_register_validates_arguments() -> None:
    with pytest.raises(ValueError, match="non-empty str"):
        register_parallel_backend("", ThreadingBackend)
    with pytest.raises(TypeError, match="callable"):
        register_parallel_backend("x", 42)  # type: ignore[arg-type]


def test_default_backend_is_threading_without_process_plugin(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARJOB_LOAD_PLUGINS", "")
    assert Parallel(n_jobs=2).backend.name == "threading"
    assert Parallel(n_jobs=2, prefer="processes").backend.name == "threading"


def test_parjob_backends_command_lists_plugins(site: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from parjob.cli import main

    make_plugin(site, "good")
    make_plugin(site, "future", contract=99)
    assert main(["backends"]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "fakeplug-good 1.2.3" in out
    assert "future" in out and "contract 99" in out
    assert "threading" in out and "parjob" in out


def test_plugin_source_text_is_valid() -> None:
    compile(textwrap.dedent(PLUGIN.format(cls="X", backend="x", contract=1)), "p", "exec")


def test_load_plugins_env_naming_nothing_installed_warns(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin(site, "a")
    monkeypatch.setenv("PARJOB_LOAD_PLUGINS", "fakeplug-a, typo")
    with pytest.warns(UserWarning, match=r"names 'typo', which match no installed parjob plugin"):
        names = list_backends()
    assert "a" in names


def test_a_backend_left_out_by_load_plugins_names_the_filter(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin(site, "a")
    make_plugin(site, "b")
    monkeypatch.setenv("PARJOB_LOAD_PLUGINS", "fakeplug-a")
    with pytest.raises(UnknownBackendError) as info:
        Parallel(backend="b")
    message = str(info.value)
    assert "PARJOB_LOAD_PLUGINS='fakeplug-a' left out the installed plugins" in message
    assert "fakeplug-b" in message and "pip install" not in message


def test_a_filtered_out_known_plugin_gets_no_install_hint(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin(site, "a")
    monkeypatch.setenv("PARJOB_LOAD_PLUGINS", "fakeplug-a")
    with pytest.raises(UnknownBackendError) as info:
        Parallel(backend="dask")  # parjob-dask is installed here, but filtered out
    assert "pip install" not in str(info.value)
    assert "PARJOB_LOAD_PLUGINS" in str(info.value)
