"""deploy: gated bundles, a safe fixed-rate runtime on a robot interface, logs as real data.

Modules: :mod:`deploy.export` (TorchScript and ONNX, parity checked), :mod:`deploy.bundle` (gate
check, hashed manifest, verified loading), :mod:`deploy.robot` (the robot protocol),
:mod:`deploy.mujoco_backend` (hardware stand-in with a reality gap and fault injection),
:mod:`deploy.lerobot_backend` (LeRobot adapter, optional), :mod:`deploy.safety` (the safety layer),
:mod:`deploy.runtime` (the fixed-rate loop) and :mod:`deploy.logs` (LeRobot v3.0 datasets).

``deploy`` imports ``robots`` only, and reads validation's gate-report schema as a data file: a
runtime on a robot must stay small (docs/architecture.md, layers). See docs/deploy.md.
"""
