"""What an engineer needs to see at a glance, one module per command: ``kam status``
(:mod:`kam.status.report`), the last ``kam run`` it remembers (:mod:`kam.status.last_run`), ``kam
explain`` (:mod:`kam.status.explain`) and the demo's summary (:mod:`kam.status.demo`)."""
