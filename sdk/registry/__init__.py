"""Registry client: register with a lease, resolve, watch, and call services by name."""

from sdk.registry.balancer import Balancer
from sdk.registry.client import RegistryClient
from sdk.registry.model import Endpoint, Lease, validate_registration
from sdk.registry.service_client import ServiceClient

__all__ = ["Balancer", "Endpoint", "Lease", "RegistryClient", "ServiceClient", "validate_registration"]
