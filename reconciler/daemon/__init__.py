"""Daemon stage: keep every customer converged between merges (R9, R10, R19).

    config on disk (re-read each cycle; --git pulls first)
      -> scheduler (per-customer interval + jitter, backoff, quarantine, import now)
      -> runner (engine.plan_one -> safety block / pause -> engine.apply)
      -> daemon state + metrics + logs; the HTTP listener serves health, metrics
         and the import-now / override endpoints.

Time comes from an injected `Clock`, so tests drive schedules without sleeping.
"""
