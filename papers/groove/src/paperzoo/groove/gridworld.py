"""The LPG grid-worlds (Oh et al. 2020, App. C) as a pure-JAX environment, their level distributions, and an
exact finite-horizon DP optimal return.

A level is a ``G x G`` grid (``G <= max_grid_size``) with walls, a start cell and up to ``max_n_objs`` objects at
fixed cells. Object ``i`` has a reward ``r_i``, a termination probability ``p_term_i`` on collection and a
respawn probability ``p_resp_i`` per step while absent. Actions: up, down, left, right, stay. One step
(official code, ``environments/gridworld/gridworld.py``)::

    pos'      = move(pos, a)                       (blocked by the border and by walls)
    collected = exists & (obj_pos == pos')
    exists'   = (exists | Bernoulli(p_resp)) & ~collected & used
    r         = sum_i r_i collected_i
    done      = Bernoulli(sum_i p_term_i collected_i) or time' >= max_steps_in_episode

The tabular observation is one-hot(pos + max_grid_size^2 * bitmask(exists)) followed by time * 0.001, so the
tabular state space is max_grid_size^2 * 2^max_n_objs. ``step`` auto-resets finished episodes (gymnax style).
Positions are ``row * grid_size + col``; walls are a mask over ``max_grid_size^2`` indices, as in the official
code (so a wall index >= grid_size^2 has no effect).

:func:`optimal_return` computes max_pi E[sum_t r_t] from the start state by backward induction over
(time, pos, bitmask), the quantity the benchmark normalises returns by.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from paperzoo.shared.validate import check_positive_int, check_range

N_ACTIONS = 5


@struct.dataclass
class EnvParams:
    """One level's parameters (every array padded to the environment's static maxima).

    Object properties are per object (the official code stores them per object *type* and gathers them by
    ``obj_ids``; resolving the types once at sampling time is the same level).
    """

    max_steps_in_episode: jax.Array  # int32 scalar
    grid_size: jax.Array  # int32 scalar
    walls: jax.Array  # bool[max_grid_size**2]
    start_pos: jax.Array  # int32 scalar
    n_objs: jax.Array  # int32 scalar: objects i >= n_objs are unused
    obj_pos: jax.Array  # int32[max_n_objs]
    obj_reward: jax.Array  # float32[max_n_objs]
    obj_p_terminate: jax.Array  # float32[max_n_objs]
    obj_p_respawn: jax.Array  # float32[max_n_objs]


@struct.dataclass
class EnvState:
    time: jax.Array
    pos: jax.Array
    obj_exists: jax.Array  # bool[max_n_objs]
    terminated: jax.Array  # early termination by collecting an object


@dataclass(frozen=True)
class GridWorld:
    """The static part of the grid-world (array sizes); a level is an :class:`EnvParams`.

    Args:
        max_grid_size: the largest grid side any level of this environment uses.
        max_n_objs: the most objects a level has (tabular observations grow as 2^max_n_objs).
        tabular: one-hot (pos, object bitmask) observations if True, else one-hot position plus one
            position plane per object.
    """

    max_grid_size: int = 6
    max_n_objs: int = 3
    tabular: bool = True

    def __post_init__(self) -> None:
        check_positive_int("max_grid_size", self.max_grid_size)
        check_range("max_n_objs", self.max_n_objs, 1, 8)
        check_positive_int("max_n_objs", self.max_n_objs)

    @property
    def n_cells(self) -> int:
        return self.max_grid_size**2

    @property
    def n_states(self) -> int:
        """Size of the tabular state space: cells x object bitmasks."""
        return self.n_cells * 2**self.max_n_objs

    @property
    def num_actions(self) -> int:
        return N_ACTIONS

    @property
    def obs_size(self) -> int:
        return (self.n_states if self.tabular else self.n_cells * (1 + self.max_n_objs)) + 1

    # ------------------------------------------------------------------------------------------- dynamics
    def next_pos(self, pos: jax.Array, action: jax.Array, params: EnvParams) -> jax.Array:
        """Move up/down/left/right (actions 0-3) unless at the border or into a wall; action 4 stays."""
        g = params.grid_size
        top, bottom = pos < g, pos >= g * (g - 1)
        left, right = pos % g == 0, pos % g == g - 1
        delta = (
            (action == 0) * (~top) * -g
            + (action == 1) * (~bottom) * g
            + (action == 2) * (~left) * -1
            + (action == 3) * (~right) * 1
        )
        new = pos + delta
        return jnp.where(params.walls[new], pos, new)

    def state_index(self, pos: jax.Array, obj_exists: jax.Array) -> jax.Array:
        """Tabular state index pos + max_grid_size^2 * sum_i 2^i exists_i."""
        bits = jnp.sum(jnp.where(obj_exists, 2 ** jnp.arange(self.max_n_objs), 0))
        return pos + self.n_cells * bits

    def get_obs(self, state: EnvState, params: EnvParams) -> jax.Array:
        """Tabular: one-hot(state_index) ++ [0.001 t]; else one-hot(pos) ++ a plane per present object ++ [0.001 t]."""
        if self.tabular:
            obs = jax.nn.one_hot(self.state_index(state.pos, state.obj_exists), self.n_states)
        else:
            pos = jax.nn.one_hot(state.pos, self.n_cells)
            planes = jax.nn.one_hot(params.obj_pos, self.n_cells) * state.obj_exists[:, None]
            obs = jnp.concatenate([pos, planes.reshape(-1)])
        return jnp.append(obs, state.time * 0.001)

    def reset(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        """Start state: the agent at ``start_pos``, every used object present (the key is unused: resets are
        deterministic in the tabular grid-worlds)."""
        del key
        state = EnvState(
            time=jnp.int32(0),
            pos=params.start_pos.astype(jnp.int32),
            obj_exists=jnp.arange(self.max_n_objs) < params.n_objs,
            terminated=jnp.bool_(False),
        )
        return self.get_obs(state, params), state

    @property
    def n_uniforms(self) -> int:
        """Uniform draws one step consumes: one per object (respawn) and one for termination."""
        return self.max_n_objs + 1

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array]:
        """One transition without auto-reset: (obs, state, reward, done)."""
        return self.step_uniform(jax.random.uniform(key, (self.n_uniforms,)), state, action, params, reset=False)

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array]:
        """One transition; a finished episode is reset (the returned obs/state are then the reset ones)."""
        return self.step_uniform(jax.random.uniform(key, (self.n_uniforms,)), state, action, params)

    def step_uniform(
        self, u: jax.Array, state: EnvState, action: jax.Array, params: EnvParams, reset: bool = True
    ) -> tuple[jax.Array, EnvState, jax.Array, jax.Array]:
        """:meth:`step` driven by ``u ~ U[0, 1)^(max_n_objs + 1)`` instead of a key (one PRNG call per rollout
        instead of several per step: XLA compiles each PRNG call separately)."""
        pos = self.next_pos(state.pos, action, params)
        collected = state.obj_exists & (params.obj_pos == pos)
        respawn = u[: self.max_n_objs] < params.obj_p_respawn
        used = jnp.arange(self.max_n_objs) < params.n_objs
        exists = (state.obj_exists | respawn) & ~collected & used
        p_term = jnp.dot(params.obj_p_terminate, collected)
        terminated = (u[self.max_n_objs] < p_term) | state.terminated
        reward = jnp.dot(params.obj_reward, collected)
        new = EnvState(time=state.time + 1, pos=pos, obj_exists=exists, terminated=terminated)
        done = (new.time >= params.max_steps_in_episode) | terminated
        if reset:
            start = EnvState(
                time=jnp.int32(0),
                pos=params.start_pos.astype(jnp.int32),
                obj_exists=used,
                terminated=jnp.bool_(False),
            )
            new = jax.tree.map(lambda a, b: jnp.where(done, a, b), start, new)
        return self.get_obs(new, params), new, reward, done

    # ------------------------------------------------------------------------------------- exact optimum
    def optimal_return(self, params: EnvParams, horizon: int) -> jax.Array:
        """Optimal expected undiscounted episode return from the start state (tabular levels).

        Backward induction over t = horizon-1 .. 0 (``horizon`` static, >= max_steps_in_episode)::

            V_t(s) = max_a [ r(s,a) + (1 - p_term(s,a)) sum_b' P(b'|s,a) V_{t+1}(pos'(s,a), b') ]
            V_t    = 0 for t >= max_steps_in_episode

        with b' the next object bitmask (each absent object respawns independently with p_resp; collected
        and unused objects are absent; present uncollected objects stay).
        """
        n, cells = self.max_n_objs, self.n_cells
        masks = jnp.asarray(np.array(list(itertools.product([0, 1], repeat=n)))[:, ::-1].copy(), dtype=bool)
        # masks[b, i] = bit i of b  (b = 0 .. 2^n-1)
        pos = jnp.arange(cells)
        nxt = jax.vmap(lambda a: jax.vmap(lambda p: self.next_pos(p, a, params))(pos))(jnp.arange(N_ACTIONS)).T
        # nxt: [cells, A]; collected[c, a, b, i]
        exists = masks[None, None, :, :]
        collected = exists & (params.obj_pos[None, None, None, :] == nxt[:, :, None, None])
        reward = jnp.einsum("cabi,i->cab", collected, params.obj_reward)
        p_term = jnp.einsum("cabi,i->cab", collected, params.obj_p_terminate)
        used = jnp.arange(n) < params.n_objs
        # Probability that object i is present next: 1 if present and not collected, p_resp if absent, 0 if
        # collected or unused.
        p_present = jnp.where(collected, 0.0, jnp.where(exists, 1.0, params.obj_p_respawn)) * used
        # P(b' | c, a, b) = prod_i p_present^b'_i (1 - p_present)^(1 - b'_i): [cells, A, 2^n, 2^n']
        nb = masks[None, None, None, :, :]
        trans = jnp.prod(jnp.where(nb, p_present[:, :, :, None, :], 1.0 - p_present[:, :, :, None, :]), axis=-1)
        next_index = nxt[:, :, None] + cells * jnp.arange(2**n)[None, None, :]  # [cells, A, 2^n']

        def backup(v_next, t):
            v_succ = v_next[next_index]  # [cells, A, 2^n']
            expect = jnp.einsum("cabn,can->cab", trans, v_succ)
            q = reward + (1.0 - p_term) * expect  # [cells, A, 2^n]
            v = q.max(axis=1).T.reshape(-1)  # index = c + cells * b
            v = jnp.where(t < params.max_steps_in_episode, v, 0.0)
            return v, None

        v0, _ = jax.lax.scan(backup, jnp.zeros(self.n_states), jnp.arange(horizon)[::-1])
        start = self.state_index(params.start_pos, used)
        return v0[start]


# ------------------------------------------------------------------------------------------- distributions
@dataclass(frozen=True)
class LevelDistribution:
    """A random-level distribution of the official ``environments/gridworld/configs.py``.

    Object ``i`` has type ``i``; its reward is U(-1, 1) except object 0's, U(0, 1); p_term log-U(1e-2, 1);
    p_resp log-U(1e-3, 1e-1). Episode length and agent lifetime (in agent updates) are log-uniform integers.
    ``n_walls`` wall indices are drawn without replacement from the ``max_grid_size^2`` cells.
    """

    name: str
    grid_sizes: tuple[int, int]
    n_objs: tuple[int, int]
    episode_len: tuple[int, int]
    lifetime: tuple[int, int]
    n_walls: int

    def __post_init__(self) -> None:
        for field in ("grid_sizes", "n_objs", "episode_len", "lifetime"):
            low, high = getattr(self, field)
            if not 1 <= low <= high:
                raise ValueError(f"{field} must be (low, high) with 1 <= low <= high, got {(low, high)}")
        if self.grid_sizes[0] < 2:
            raise ValueError(f"grid_sizes must start at >= 2, got {self.grid_sizes}")
        if self.n_walls < 0 or self.n_walls + self.n_objs[1] + 1 > self.grid_sizes[1] ** 2:
            raise ValueError(f"n_walls must leave room for the agent and objects, got {self.n_walls}")

    @property
    def env(self) -> GridWorld:
        """The tabular grid-world whose static sizes fit every level of this distribution."""
        return GridWorld(max_grid_size=self.grid_sizes[1], max_n_objs=self.n_objs[1], tabular=True)

    @property
    def max_episode_len(self) -> int:
        return self.episode_len[1]

    @property
    def max_lifetime(self) -> int:
        return self.lifetime[1]


DISTRIBUTIONS = {
    # The brief's CPU-scale distribution ("small" of the official configs; lifetime 50-250 as in its
    # "randlife" variants, so that levels differ in lifetime too).
    "small": LevelDistribution("small", (4, 6), (1, 3), (20, 100), (50, 250), 7),
    # The paper's distribution ("all" of the official configs: lifetime 1000 updates, the LPG paper's).
    "all": LevelDistribution("all", (4, 10), (1, 5), (20, 750), (1000, 1000), 15),
    # Tiny levels for tests and smoke.
    "debug": LevelDistribution("debug", (3, 4), (1, 2), (5, 10), (4, 8), 4),
    # One-state bandits for the direction tests: a 2x2 grid without walls, one object of reward U(0, 1), one-step
    # episodes (5 arms: the object's cell, when adjacent to the start, pays r), lifetime 2 updates (= K there).
    "bandit": LevelDistribution("bandit", (2, 2), (1, 1), (1, 1), (2, 2), 0),
}


def uniform(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """U[0, 1) of ``shape``, drawn flat and reshaped: XLA:CPU compiles a multi-dimensional threefry draw
    several times slower (seconds), and every random quantity of this package is derived from such draws."""
    return jax.random.uniform(key, (int(np.prod(shape)),)).reshape(shape)


def _log_uniform(u: jax.Array, low: float, high: float) -> jax.Array:
    return jnp.exp(jnp.log(low) + u * (jnp.log(high) - jnp.log(low)))


def _int_between(u: jax.Array, low: int, high: int) -> jax.Array:
    """Uniform integer in [low, high] from u ~ U[0, 1)."""
    return jnp.minimum(low + jnp.floor(u * (high - low + 1)), high).astype(jnp.int32)


def sample_level(key: jax.Array, dist: LevelDistribution) -> tuple[EnvParams, jax.Array]:
    """One random level of ``dist`` and its agent lifetime (number of agent updates).

    The official sampler's distributions, all derived from one uniform draw (walls: the first ``n_walls`` of
    a random permutation of the max_grid_size^2 cells; start and objects: distinct random free cells)."""
    env = dist.env
    n, cells = env.max_n_objs, env.n_cells
    u = uniform(key, (3 * n + 5 + 2 * cells,))
    u_obj, u_scalar, u_walls, u_place = u[: 3 * n], u[3 * n : 3 * n + 5], u[3 * n + 5 : 3 * n + 5 + cells], u[-cells:]
    # r_0 ~ U(0, 1), r_i ~ U(-1, 1); p_term ~ logU(1e-2, 1); p_resp ~ logU(1e-3, 1e-1)
    reward = jnp.where(jnp.arange(n) == 0, u_obj[:n], 2.0 * u_obj[:n] - 1.0)
    p_term = _log_uniform(u_obj[n : 2 * n], 1e-2, 1.0)
    p_resp = _log_uniform(u_obj[2 * n :], 1e-3, 1e-1)
    episode_len = jnp.round(_log_uniform(u_scalar[0], *dist.episode_len)).astype(jnp.int32)
    lifetime = jnp.round(_log_uniform(u_scalar[1], *dist.lifetime)).astype(jnp.int32)
    n_objs = _int_between(u_scalar[2], *dist.n_objs)
    grid = _int_between(u_scalar[3], *dist.grid_sizes)
    wall_idx = jnp.argsort(u_walls)[: dist.n_walls]
    walls = jnp.zeros(cells, bool).at[wall_idx].set(True)
    valid = (jnp.arange(cells) < grid**2) & ~walls
    placed = jnp.argsort(-(u_place + 2.0 * valid))[: n + 1]
    params = EnvParams(
        max_steps_in_episode=episode_len,
        grid_size=grid,
        walls=walls,
        start_pos=placed[0].astype(jnp.int32),
        n_objs=n_objs,
        obj_pos=placed[1:].astype(jnp.int32),
        obj_reward=reward,
        obj_p_terminate=p_term,
        obj_p_respawn=p_resp,
    )
    return params, lifetime


def _concrete(value):
    """``value`` as a Python number if it is a concrete scalar (NumPy and JAX scalars included), ``None`` if it is
    traced (``make_level`` called under ``jit``: only concrete values are checked), else unchanged."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (np.generic, jax.Array)) and np.ndim(value) == 0:
        return value.item()
    return value


def _check_cell(name: str, cell: tuple[int, int], grid_size: int) -> tuple[int, int]:
    """``cell`` = (row, col) with each an integer in [0, grid_size - 1]: a cell inside the level's grid (``row *
    grid_size + col`` would otherwise silently wrap into another row)."""
    if not isinstance(cell, (tuple, list)) or len(cell) != 2:
        raise ValueError(f"{name} must be a (row, col) pair, got {cell!r}")
    for axis, raw in zip(("row", "col"), cell, strict=True):
        value = _concrete(raw)
        if value is None:  # traced (it could not index the wall mask anyway)
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} {axis} must be an integer in [0, {grid_size - 1}], got {value!r}")
        check_range(f"{name} {axis}", value, 0, grid_size - 1)
    return cell[0], cell[1]


def make_level(
    env: GridWorld,
    grid_size: int,
    start: tuple[int, int],
    objects: list[tuple[tuple[int, int], float, float, float]],
    episode_len: int,
    walls: list[tuple[int, int]] | str = (),
) -> EnvParams:
    """A hand-designed level. ``objects``: ((row, col), reward, p_terminate, p_respawn) per object;
    ``walls``: (row, col) cells, or a picture (rows of ``#``/``.``).

    Raises ``ValueError`` naming the argument for ``grid_size`` outside [1, env.max_grid_size], a cell (start,
    object or wall) outside the ``grid_size x grid_size`` grid, a probability outside [0, 1] or ``episode_len``
    < 1. Plain Python checks (``make_level`` builds a level once, outside any jitted code); values traced under
    ``jit`` are not checked.
    """
    grid_size = _concrete(grid_size)
    if grid_size is None:
        raise ValueError("grid_size must be a concrete integer (it shapes the level's wall mask), got a traced value")
    check_positive_int("grid_size", grid_size)
    if grid_size > env.max_grid_size:
        raise ValueError(f"grid_size must be in [1, env.max_grid_size={env.max_grid_size}], got {grid_size}")
    if (length := _concrete(episode_len)) is not None:
        check_positive_int("episode_len", length)
    if not 1 <= len(objects) <= env.max_n_objs:
        raise ValueError(f"objects must hold 1..{env.max_n_objs} objects, got {len(objects)}")
    start = _check_cell("start", start, grid_size)
    for i, (pos, _reward, p_terminate, p_respawn) in enumerate(objects):
        _check_cell(f"objects[{i}] position", pos, grid_size)
        for what, p in (("p_terminate", p_terminate), ("p_respawn", p_respawn)):
            if (p := _concrete(p)) is not None:
                check_range(f"objects[{i}] {what}", p, 0.0, 1.0)
    if isinstance(walls, str):
        rows = [r.strip() for r in walls.strip().splitlines()]
        walls = [(i, j) for i, row in enumerate(rows) for j, ch in enumerate(row) if ch == "#"]
    walls = [_check_cell(f"walls[{i}]", cell, grid_size) for i, cell in enumerate(walls)]
    wall_mask = np.zeros(env.n_cells, bool)
    for r, c in walls:
        wall_mask[r * grid_size + c] = True
    pad = env.max_n_objs - len(objects)
    cells = [r * grid_size + c for (r, c), *_ in objects]
    start_cell = start[0] * grid_size + start[1]
    if wall_mask[start_cell] or any(wall_mask[c] for c in cells) or len({start_cell, *cells}) != len(cells) + 1:
        raise ValueError("start and objects must be distinct cells without walls")
    return EnvParams(
        max_steps_in_episode=jnp.int32(episode_len),
        grid_size=jnp.int32(grid_size),
        walls=jnp.asarray(wall_mask),
        start_pos=jnp.int32(start_cell),
        n_objs=jnp.int32(len(objects)),
        obj_pos=jnp.asarray(cells + [0] * pad, jnp.int32),
        obj_reward=jnp.asarray([o[1] for o in objects] + [0.0] * pad, jnp.float32),
        obj_p_terminate=jnp.asarray([o[2] for o in objects] + [0.0] * pad, jnp.float32),
        obj_p_respawn=jnp.asarray([o[3] for o in objects] + [0.0] * pad, jnp.float32),
    )


HELD_OUT_ENV = GridWorld(max_grid_size=7, max_n_objs=4, tabular=True)
HELD_OUT_EPISODE_LEN = 100
HELD_OUT_LIFETIME = 250


def held_out_levels() -> dict[str, EnvParams]:
    """The meta-test levels of the CPU-scale benchmark: 7x7 copies of the LPG paper's hand-designed
    grid-worlds (dense, sparse, long, long_dense; object layouts fixed here) and three fixed mazes.

    All live in :data:`HELD_OUT_ENV` (7x7, 4 objects); agents train on each for 250 updates.
    """
    env = HELD_OUT_ENV
    cross = """
        ...#...
        ...#...
        .......
        #.###.#
        ...#...
        .......
        ...#...
    """
    maze_a = """
        .#.....
        .#.###.
        .#...#.
        .###.#.
        .....#.
        ####.#.
        .......
    """
    maze_b = """
        ...#...
        .#.#.#.
        .#...#.
        .#####.
        .#...#.
        .#.#.#.
        ...#...
    """
    return {
        # dense: two +1 apples that respawn, a -1 hazard that may end the episode, a -1 hazard that respawns fast
        "dense": make_level(
            env,
            7,
            (3, 3),
            [((0, 0), 1.0, 0.0, 0.05), ((6, 6), 1.0, 0.0, 0.05), ((1, 5), -1.0, 0.5, 0.1), ((5, 1), -1.0, 0.0, 0.5)],
            100,
        ),
        # sparse: one +1 and one -1, both end the episode, never respawn
        "sparse": make_level(env, 7, (0, 0), [((6, 6), 1.0, 1.0, 0.0), ((3, 3), -1.0, 1.0, 0.0)], 50),
        # long: +1 apples that rarely respawn, -1 hazards that always respawn and may end the episode
        "long": make_level(
            env,
            7,
            (0, 3),
            [((6, 0), 1.0, 0.0, 0.01), ((6, 6), 1.0, 0.0, 0.01), ((3, 2), -1.0, 0.5, 1.0), ((3, 4), -1.0, 0.5, 1.0)],
            100,
        ),
        # long_dense: four +1 apples in four rooms, slow respawn
        "long_dense": make_level(
            env,
            7,
            (2, 3),
            [
                ((0, 0), 1.0, 0.0, 0.005),
                ((0, 6), 1.0, 0.0, 0.005),
                ((6, 0), 1.0, 0.0, 0.005),
                ((6, 6), 1.0, 0.0, 0.005),
            ],
            100,
            cross,
        ),
        # maze_a: a +1 goal at the end of a winding corridor, a nearer terminal +0.3 distractor
        "maze_a": make_level(env, 7, (0, 0), [((0, 2), 1.0, 1.0, 0.0), ((6, 3), 0.3, 1.0, 0.0)], 50, maze_a),
        # maze_b: a +1 goal and a -1 trap, both terminal, around a central block
        "maze_b": make_level(env, 7, (0, 0), [((4, 4), 1.0, 1.0, 0.0), ((2, 2), -1.0, 1.0, 0.0)], 50, maze_b),
        # open room with a slowly respawning +0.5 apple and a terminal +1 goal: exploit vs finish
        "apple_goal": make_level(env, 7, (3, 0), [((3, 2), 0.5, 0.0, 0.1), ((3, 6), 1.0, 1.0, 0.0)], 50),
    }
