"""`driver: lambda`: cold rounds fired from a function in the target's region.

`handler` and `wire` are the driver function's own code, packaged with the harness's
`burst` module (and what it imports) by `package`; `fleet` is the harness's side: it
deploys the driver and hands each cold round to it as plans.
"""
