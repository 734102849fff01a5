"""Pure planning library: scenario in, plan out (pydantic, numpy, scipy, ortools only).

Modules: problem (scenario models and loader; jsonpos maps errors to lines), needs (demand
per site), network (travel matrices), plan (plan models and the independent checker),
baseline (greedy plan and an upper bound on coverage). See docs/planning.md.
"""
