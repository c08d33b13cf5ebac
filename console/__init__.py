"""The web console (`txc console`): find, understand and finish transactions from a browser, through the
coordinator's gRPC API only."""

from console.app import create_app
from console.server import Listen, serve
from console.settings import ConsoleSettings

__all__ = ["ConsoleSettings", "Listen", "create_app", "serve"]
