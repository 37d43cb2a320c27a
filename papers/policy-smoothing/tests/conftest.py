"""One torch thread and deterministic algorithms for every policy-smoothing test; gymnasium's notes silenced."""

from paperzoo.shared.torch import configure

configure(threads=1, deterministic=True)


def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:gymnasium.*")
    config.addinivalue_line("filterwarnings", "ignore::UserWarning:gymnasium.*")
