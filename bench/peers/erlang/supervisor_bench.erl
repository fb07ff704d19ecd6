%% The supervisor figures of bench/bench_supervisor.c, in Erlang/OTP, as an
%% OTP programmer would write them: gen_server children under a supervisor.
%%
%%   erl -noshell -pa DIR -run supervisor_bench main -extra restart2 N
%%   erl -noshell -pa DIR -run supervisor_bench main -extra pool N
%%
%% restart2: N times, the driver sends `fail` to the child (which stops
%% with reason crash), the new incarnation's init tells the driver, the
%% driver pings it and times the pong; one crash per millisecond at most,
%% intensity 100000 per 1 s, so the restart history stays short. Prints
%% median and p99 in microseconds.
%% pool: a simple_one_for_one supervisor with N children (started one by one
%% with supervisor:start_child), then exit(Sup, shutdown) until its DOWN.
%% Logging is switched off (crash and supervisor reports would dominate), as
%% Troupe prints nothing per crash.
-module(supervisor_bench).
%% (one module is both the supervisor and the gen_server callback module:
%% the two init/1 clauses are told apart by their argument)
-behaviour(supervisor).

-export([main/0, main/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).
-export([start_worker/0, start_worker/1]).

main() -> main(init:get_plain_arguments()).

main([Case, NStr]) ->
    logger:set_primary_config(level, none),
    N = list_to_integer(NStr),
    case Case of
        "restart2" -> restart2(N);
        "pool" -> pool(N)
    end,
    halt(0);
main(_) ->
    io:format("usage: supervisor_bench restart2|pool N~n"),
    halt(2).

%% ---- supervisor callbacks: {one, Driver} or pool ----
init({one, Driver}) ->
    {ok, {#{strategy => one_for_one, intensity => 100000, period => 1},
          [#{id => w, start => {?MODULE, start_worker, [Driver]},
             restart => permanent, shutdown => 5000, type => worker}]}};
init(pool) ->
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 5},
          [#{id => p, start => {?MODULE, start_worker, []},
             restart => permanent, shutdown => 5000, type => worker}]}};
%% ---- gen_server callbacks (the children) ----
init({worker, Driver}) ->
    case Driver of
        none -> ok;
        _ -> Driver ! {started, self()}
    end,
    {ok, Driver}.

start_worker(Driver) -> gen_server:start_link(?MODULE, {worker, Driver}, []).
start_worker() -> start_worker(none).

handle_call(_Req, _From, S) -> {reply, ok, S}.
handle_cast(_Msg, S) -> {noreply, S}.
handle_info(fail, S) -> {stop, crash, S};
handle_info(ping, Driver) -> Driver ! pong, {noreply, Driver};
handle_info(_, S) -> {noreply, S}.

%% ---- restart to next message ----
restart2(N) ->
    process_flag(trap_exit, true),
    {ok, Sup} = supervisor:start_link(?MODULE, {one, self()}),
    C0 = receive {started, P} -> P end,
    T0 = erlang:monotonic_time(millisecond),
    Lat = rounds(C0, N, []),
    Wall = erlang:monotonic_time(millisecond) - T0,
    stop_sup(Sup),
    Sorted = lists:sort(Lat),
    Med = pct(Sorted, N, 0.5),
    P99 = pct(Sorted, N, 0.99),
    io:format("erlang restart to next message, one-for-one, ~b crashes paced 1/ms: "
              "median ~.1f us, p99 ~.1f us, max ~.1f us (~.1f s)~n",
              [N, Med, P99, lists:last(Sorted) / 1000, Wall / 1000]),
    io:format("RESULT restart_next_message median_us ~.1f p99_us ~.1f n ~b~n", [Med, P99, N]).

rounds(_C, 0, Acc) -> Acc;
rounds(C, N, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    C ! fail,
    C1 = receive {started, P} -> P end,
    C1 ! ping,
    receive pong -> ok end,
    T1 = erlang:monotonic_time(nanosecond),
    pace(T0 + 1000000),
    rounds(C1, N - 1, [T1 - T0 | Acc]).

%% At most one crash per millisecond: the rest of it is spent sleeping
%% (receive after 1 sleeps 2-3 ms on a loaded machine, too coarse) or
%% yielding until it is over.
pace(Until) ->
    case erlang:monotonic_time(nanosecond) of
        Now when Now >= Until -> ok;
        _ -> erlang:yield(), pace(Until)
    end.

%% nearest rank, in microseconds
pct(Sorted, N, Q) ->
    Rank = max(1, min(N, ceil(Q * N))),
    lists:nth(Rank, Sorted) / 1000.

%% ---- a 10k pool's shutdown ----
pool(N) ->
    process_flag(trap_exit, true),
    {ok, Sup} = supervisor:start_link(?MODULE, pool),
    S0 = erlang:monotonic_time(microsecond),
    [{ok, _} = supervisor:start_child(Sup, []) || _ <- lists:seq(1, N)],
    StartMs = (erlang:monotonic_time(microsecond) - S0) / 1000,
    N = proplists:get_value(active, supervisor:count_children(Sup)),
    T0 = erlang:monotonic_time(microsecond),
    stop_sup(Sup),
    Ms = (erlang:monotonic_time(microsecond) - T0) / 1000,
    io:format("erlang pool of ~b children: started one by one in ~.1f ms; shutdown "
              "(exit shutdown -> DOWN) ~.1f ms (~.2f us/child)~n",
              [N, StartMs, Ms, Ms * 1000 / N]),
    io:format("RESULT pool_shutdown ms ~.1f n ~b~n", [Ms, N]).

stop_sup(Sup) ->
    Ref = monitor(process, Sup),
    unlink(Sup),
    exit(Sup, shutdown),
    receive {'DOWN', Ref, process, Sup, _} -> ok end.
