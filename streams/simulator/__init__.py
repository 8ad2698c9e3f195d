"""The network simulator: a deterministic Oklahoma provider network streaming contract events, with the
mess of real feeds at known rates. See docs/simulator.md.

    sim = Simulation(SimulationConfig(participants=2000, seed=7), load_directory(settings.provider_directory))
    produce(sim.messages(), settings)      # or write_ndjson(sim.messages(), path)
    sim.report.to_dict()
"""

from streams.simulator.config import MessConfig, SimulationConfig
from streams.simulator.malformed import UNKNOWN_PROVIDER_ID
from streams.simulator.mess import LATE_AFTER
from streams.simulator.output import DeliveryReport, produce, read_ndjson, write_ndjson
from streams.simulator.report import SimulationReport
from streams.simulator.simulation import SimulatedMessage, Simulation

__all__ = [
    "LATE_AFTER",
    "UNKNOWN_PROVIDER_ID",
    "DeliveryReport",
    "MessConfig",
    "SimulatedMessage",
    "Simulation",
    "SimulationConfig",
    "SimulationReport",
    "produce",
    "read_ndjson",
    "write_ndjson",
]
