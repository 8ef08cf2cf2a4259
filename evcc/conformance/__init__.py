"""`evcc conformance`: the EV emulator as a charger test suite (issue 16). The catalogue of cases is data
(:mod:`evcc.conformance.catalogue`), the runner drives the EV's own protocol machines with deliberate deviations
(:mod:`evcc.conformance.runner`) against a charger reached over the network or in memory
(:mod:`evcc.conformance.link`, :mod:`evcc.conformance.memory`), and the report is JUnit XML, JSON and HTML
(:mod:`evcc.conformance.report`). The simulated charger it is checked against lives in ``evcc.bench.secc`` and is
never imported here."""
