%% savina: the same benchmarks as bench/savina/savina.c, on Erlang/OTP.
%% Same parameters, same output:
%%
%%   erlc -o DIR savina.erl
%%   erl +P 5000000 -noshell -pa DIR -run savina main -extra <bench> [--scale S] [--seconds S]
%%
%% (the arguments go after -extra: erl would take --scale for one of its own flags)
%%
%%   RESULT <bench> <size> <ms>     METRIC <bench> <name> <value>
%%
%% The timed part excludes starting the VM. Erlang mailboxes are unbounded, so
%% producers send in one loop (as in Savina). Every result is checked with a
%% check a lost or duplicated message changes (payload sums, counts); a wrong
%% result exits with 1. Every bench prints METRIC <bench> threads <schedulers>.
-module(savina).
-export([main/0, main/1]).

main() -> main([]).

main(_) ->
    run(init:get_plain_arguments()).

run([Bench | Opts]) ->
    {Scale, Seconds} = opts(Opts, 1.0, 10.0),
    put(scale, Scale),
    put(seconds, Seconds),
    put(failed, false),
    metric(list_to_atom(Bench), threads, erlang:system_info(schedulers_online)),
    case bench(list_to_atom(Bench)) of
        unknown ->
            io:format(standard_error, "unknown bench ~s~n", [Bench]),
            halt(2);
        _ ->
            case get(failed) of
                true -> halt(1);
                false -> halt(0)
            end
    end.

opts([], S, T) -> {S, T};
opts(["--scale", V | R], _, T) -> opts(R, num(V), T);
opts(["--seconds", V | R], S, _) -> opts(R, S, num(V)).

num(V) ->
    case string:to_float(V) of
        {F, []} -> F;
        _ -> float(list_to_integer(V))
    end.

now_ms() -> erlang:monotonic_time(microsecond) / 1000.0.

scaled(Base) -> max(1, round(Base * get(scale))).

check(Bench, What, Got, Want) ->
    case Got =:= Want of
        true -> ok;
        false ->
            io:format("CHECK FAILED ~s: ~s = ~p, expected ~p~n", [Bench, What, Got, Want]),
            put(failed, true)
    end.

result(Bench, Size, Ms) -> io:format("RESULT ~s ~b ~.3f~n", [Bench, Size, float(Ms)]).
metric(Bench, Name, V) -> io:format("METRIC ~s ~s ~.3f~n", [Bench, Name, float(V)]).

compute(Theta) ->
    S = math:sin(Theta),
    S * S.

%% ---- pingpong ----

bench(pingpong) ->
    N = scaled(40000),
    Main = self(),
    T0 = now_ms(),
    Pong = spawn(fun() -> ponger(0, 0) end),
    Ping = spawn(fun() -> pinger(Pong, N, 0, Main) end),
    Ping ! go,
    Bad = receive {pp_done, B} -> B end,
    Ms = now_ms() - T0,
    Pong ! {stop, Main},
    {C, Sum} = receive {count, X, S} -> {X, S} end,
    check(pingpong, "pings", C, N),
    check(pingpong, "sum of ping values", Sum, N * (N + 1) div 2),
    check(pingpong, "echoes not matching the ping", Bad, 0),
    result(pingpong, N, Ms),
    metric(pingpong, msgs_per_s, 2 * N / (Ms / 1000));

%% ---- counting ----

bench(counting) ->
    N = scaled(1000000),
    Main = self(),
    T0 = now_ms(),
    Counter = spawn(fun() -> counter(0) end),
    P = spawn(fun() -> producer(Counter, N, Main) end),
    P ! go,
    C = receive {counted, X} -> X end,
    Ms = now_ms() - T0,
    exit(Counter, kill),
    check(counting, "count", C, N),
    result(counting, N, Ms),
    metric(counting, msgs_per_s, N / (Ms / 1000));

%% ---- threadring ----

bench(threadring) ->
    NActors = 100,
    Hops = scaled(100000),
    Main = self(),
    T0 = now_ms(),
    Pids = [spawn(fun() -> ring_wait(Main) end) || _ <- lists:seq(1, NActors)],
    Nexts = tl(Pids) ++ [hd(Pids)],
    [P ! {next, Nx} || {P, Nx} <- lists:zip(Pids, Nexts)],
    hd(Pids) ! {token, Hops},
    receive ring_done -> ok end,
    Ms = now_ms() - T0,
    [P ! {stop, Main} || P <- Pids],
    Seen = lists:sum([receive {seen, S} -> S end || _ <- Pids]),
    check(threadring, "token receptions", Seen, Hops + 1),
    result(threadring, Hops, Ms),
    metric(threadring, msgs_per_s, Hops / (Ms / 1000));

%% ---- chameneos ----

bench(chameneos) ->
    NCham = 100,
    Meetings = scaled(200000),
    Main = self(),
    T0 = now_ms(),
    Mall = spawn(fun() -> mall(Meetings, none, 0, 0, NCham, Main) end),
    [spawn(fun() -> chameneo_start(Mall, I rem 3) end) || I <- lists:seq(0, NCham - 1)],
    Sum = receive {meetings, S} -> S end,
    Ms = now_ms() - T0,
    check(chameneos, "sum of meetings", Sum, 2 * Meetings),
    result(chameneos, Meetings, Ms);

%% ---- fork-join throughput ----

bench(fjthrput) ->
    NWorkers = 60,
    Msgs = scaled(10000),
    Main = self(),
    T0 = now_ms(),
    Workers = [spawn(fun() -> fjt_worker(0, 0, Msgs, Main) end) || _ <- lists:seq(1, NWorkers)],
    D = spawn(fun() -> receive go -> fjt_drive(Workers, 0, Msgs) end end),
    D ! go,
    Total = lists:sum([receive {fjt_done, G} -> G end || _ <- Workers]),
    Ms = now_ms() - T0,
    check(fjthrput, "sum of round numbers", Total, NWorkers * (Msgs * (Msgs - 1) div 2)),
    result(fjthrput, Msgs, Ms),
    metric(fjthrput, msgs_per_s, Msgs * NWorkers / (Ms / 1000));

%% ---- fork-join create ----

bench(fjcreate) ->
    N = scaled(40000),
    Main = self(),
    T0 = now_ms(),
    D = spawn(fun() -> receive go -> fjc_drive(N, Main) end end),
    D ! go,
    Done = fjc_collect(N, 0),
    Ms = now_ms() - T0,
    check(fjcreate, "workers run", Done, N),
    result(fjcreate, N, Ms),
    metric(fjcreate, actors_per_s, N / (Ms / 1000));

%% ---- big ----

bench(big) ->
    N = 120,
    Pings = scaled(20000),
    Main = self(),
    T0 = now_ms(),
    Pids = [spawn(fun() -> big_start(I, Pings, Main) end) || I <- lists:seq(1, N)],
    Tuple = list_to_tuple(Pids),
    [P ! {peers, Tuple} || P <- Pids],
    [P ! go || P <- Pids],
    [receive big_done -> ok end || _ <- Pids],
    Ms = now_ms() - T0,
    [P ! {stop, Main} || P <- Pids],
    Seen = lists:sum([receive {seen, S} -> S end || _ <- Pids]),
    check(big, "pings handled", Seen, Pings * N),
    result(big, Pings, Ms),
    metric(big, msgs_per_s, 2 * Pings * N / (Ms / 1000));

%% ---- skynet ----

bench(skynet) ->
    Levels = max(1, round(6 + math:log10(get(scale)))),
    Leaves = pow10(Levels),
    Actors = lists:sum([pow10(L) || L <- lists:seq(0, Levels)]),
    Cnt = counters:new(1, [write_concurrency]),
    Main = self(),
    T0 = now_ms(),
    spawn(fun() -> sky(0, Leaves, Main, Cnt) end),
    Sum = receive {sum, S} -> S end,
    Ms = now_ms() - T0,
    io:format("skynet sum ~b~n", [Sum]),
    check(skynet, "sum", Sum, Leaves * (Leaves - 1) div 2),
    check(skynet, "actors", counters:get(Cnt, 1), Actors),
    result(skynet, Leaves, Ms),
    metric(skynet, actors, Actors);

%% ---- idle ----

bench(idle) ->
    N = 10000,
    Base = erlang:system_info(process_count),
    Pids = [spawn(fun() -> receive stop -> ok end end) || _ <- lists:seq(1, N)],
    timer:sleep(200),
    Alive = erlang:system_info(process_count) - Base,
    _ = cpu_ms(), % reads CLK_TCK once, outside the window
    C0 = cpu_ms(),
    T0 = now_ms(),
    timer:sleep(round(get(seconds) * 1000)),
    Cpu = cpu_ms() - C0,
    Wall = now_ms() - T0,
    [P ! stop || P <- Pids],
    check(idle, "actors alive", Alive, N),
    Pct = 100 * Cpu / Wall,
    result(idle, N, Cpu),
    metric(idle, wall_ms, Wall),
    metric(idle, pct_core, Pct),
    io:format("idle: ~.3f% of one core (target < 1%: ~s)~n",
              [float(Pct), case Pct < 1.0 of true -> "met"; false -> "NOT met" end]);

%% ---- spawn + complete ----

bench(spawn) ->
    N = scaled(1000000),
    Cnt = counters:new(2, [write_concurrency]),
    Base = erlang:system_info(process_count),
    Rss0 = hwm_kb(),
    T0 = now_ms(),
    spawn_n(N, Cnt),
    wait_procs(Base),
    Ms = now_ms() - T0,
    Rss1 = hwm_kb(),
    check(spawn, "actors run", counters:get(Cnt, 1), N),
    check(spawn, "sum of the actors' indices", counters:get(Cnt, 2), N * (N - 1) div 2),
    result(spawn, N, Ms),
    metric(spawn, ns_per_actor, Ms * 1.0e6 / N),
    metric(spawn, peak_rss_mb, Rss1 / 1024),
    metric(spawn, bytes_per_actor, (Rss1 - Rss0) * 1024 / N);

%% ---- spawn, one message each, reply ----

bench(spawnmsg) ->
    N = scaled(1000000),
    Base = erlang:system_info(process_count),
    Rss0 = hwm_kb(),
    T0 = now_ms(),
    smsg_spawn(0, N, self()),
    Sum = smsg_collect(N, 0),
    Ms = now_ms() - T0,
    Rss1 = hwm_kb(),
    check(spawnmsg, "sum of the replies", Sum, N * (N - 1) div 2),
    wait_procs(Base),
    result(spawnmsg, N, Ms),
    metric(spawnmsg, ns_per_actor, Ms * 1.0e6 / N),
    metric(spawnmsg, peak_rss_mb, Rss1 / 1024),
    metric(spawnmsg, bytes_per_actor, (Rss1 - Rss0) * 1024 / N);

%% ---- memory per idle actor ----

bench(mem) ->
    N = scaled(1000000),
    Base = erlang:system_info(process_count),
    Started = counters:new(1, [write_concurrency]),
    Rss0 = rss_bytes(),
    T0 = now_ms(),
    Pids = [spawn(fun() -> counters:add(Started, 1, 1), receive stop -> ok end end)
            || _ <- lists:seq(1, N)],
    wait_counter(Started, N),
    Ms = now_ms() - T0,
    timer:sleep(100),
    Rss1 = rss_bytes(),
    Alive = erlang:system_info(process_count) - Base,
    check(mem, "actors alive", Alive, N),
    [P ! stop || P <- Pids],
    wait_procs(Base),
    result(mem, N, Ms),
    %% the Pids list (2 words a cell) is counted in, as the CAF peer's handles are
    metric(mem, bytes_per_actor, (Rss1 - Rss0) / N),
    metric(mem, rss_mb, Rss1 / 1048576),
    metric(mem, peak_rss_mb, hwm_kb() / 1024);

%% ---- cancel a tree ----

bench(cancel) ->
    W = max(2, round(100 * math:pow(get(scale), 1 / 3))),
    Expected = 1 + W + W * W + W * W * W,
    Started = counters:new(1, [write_concurrency]),
    Base = erlang:system_info(process_count),
    Rss0 = hwm_kb(),
    B0 = now_ms(),
    Root = spawn(fun() -> tree(3, W, Started) end),
    wait_counter(Started, Expected),
    BuildMs = now_ms() - B0,
    Rss1 = hwm_kb(),
    Alive = erlang:system_info(process_count) - Base,
    check(cancel, "actors started", counters:get(Started, 1), Expected),
    T0 = now_ms(),
    exit(Root, shutdown),
    wait_procs(Base),
    Ms = now_ms() - T0,
    check(cancel, "actors alive before the cancel", Alive, Expected),
    check(cancel, "actors left", erlang:system_info(process_count) - Base, 0),
    result(cancel, Expected, Ms),
    metric(cancel, ns_per_actor, Ms * 1.0e6 / Expected),
    metric(cancel, build_ms, BuildMs),
    metric(cancel, bytes_per_actor, (Rss1 - Rss0) * 1024 / Expected);

bench(_) -> unknown.

%% ---- actors ----

%% The pinger sends N, N-1, ..., 1; the ponger sums what it gets and echoes
%% it; the pinger counts echoes that are not the value it sent last.
ponger(C, Sum) ->
    receive
        {ping, From, V} -> From ! {pong, V}, ponger(C + 1, Sum + V);
        {stop, Main} -> Main ! {count, C, Sum}
    end.

pinger(Pong, Left, Bad, Main) ->
    receive
        go -> Pong ! {ping, self(), Left}, pinger(Pong, Left, Bad, Main);
        {pong, V} ->
            Bad1 = case V of Left -> Bad; _ -> Bad + 1 end,
            case Left of
                1 -> Main ! {pp_done, Bad1};
                _ -> Pong ! {ping, self(), Left - 1}, pinger(Pong, Left - 1, Bad1, Main)
            end
    end.

counter(C) ->
    receive
        inc -> counter(C + 1);
        {get, From} -> From ! {result, C}, counter(C)
    end.

producer(Counter, N, Main) ->
    receive go -> ok end,
    send_incs(Counter, N),
    Counter ! {get, self()},
    receive {result, C} -> Main ! {counted, C} end.

send_incs(_, 0) -> ok;
send_incs(Counter, N) -> Counter ! inc, send_incs(Counter, N - 1).

ring_wait(Main) ->
    receive {next, Next} -> ring(Next, Main, 0) end.

ring(Next, Main, Seen) ->
    receive
        {token, 0} -> Main ! ring_done, ring(Next, Main, Seen + 1);
        {token, H} -> Next ! {token, H - 1}, ring(Next, Main, Seen + 1);
        {stop, M} -> M ! {seen, Seen}
    end.

mall(Left, Waiting, Sum, Faded, NCham, Main) ->
    receive
        {meet, Color, Who} when Left > 0, Waiting =:= none ->
            mall(Left, {Color, Who}, Sum, Faded, NCham, Main);
        {meet, Color, Who} when Left > 0 ->
            {_, W} = Waiting,
            W ! {meet, Color, Who},
            mall(Left - 1, none, Sum, Faded, NCham, Main);
        {meet, _, Who} ->
            Who ! exit,
            mall(Left, Waiting, Sum, Faded, NCham, Main);
        {count, M} when Faded + 1 =:= NCham ->
            Main ! {meetings, Sum + M};
        {count, M} ->
            mall(Left, Waiting, Sum + M, Faded + 1, NCham, Main)
    end.

complement(A, A) -> A;
complement(A, B) -> 3 - A - B.

chameneo_start(Mall, Color) ->
    Mall ! {meet, Color, self()},
    chameneo(Mall, Color, 0).

chameneo(Mall, Color, Meetings) ->
    receive
        {meet, Other, Who} ->
            C = complement(Color, Other),
            Who ! {change, C},
            Mall ! {meet, C, self()},
            chameneo(Mall, C, Meetings + 1);
        {change, C} ->
            Mall ! {meet, C, self()},
            chameneo(Mall, C, Meetings + 1);
        exit ->
            Mall ! {count, Meetings}
    end.

%% Each worker sums the round numbers it is sent (0 .. Msgs-1) and reports the
%% sum when it has had Msgs messages.
fjt_worker(Got, Sum, Msgs, Main) ->
    receive
        {work, R} ->
            compute(37.2),
            case Got + 1 of
                Msgs -> Main ! {fjt_done, Sum + R};
                G -> fjt_worker(G, Sum + R, Msgs, Main)
            end
    end.

fjt_drive(_, M, M) -> ok;
fjt_drive(Workers, R, M) ->
    [W ! {work, R} || W <- Workers],
    fjt_drive(Workers, R + 1, M).

fjc_drive(0, _) -> ok;
fjc_drive(N, Main) ->
    W = spawn(fun() -> fjc_worker(Main) end),
    W ! work,
    fjc_drive(N - 1, Main).

fjc_worker(Main) ->
    receive work -> compute(37.2), Main ! fjc_done end.

fjc_collect(N, N) -> N;
fjc_collect(N, D) -> receive fjc_done -> fjc_collect(N, D + 1) end.

big_start(Id, Pings, Main) ->
    receive {peers, Peers} -> big(Peers, Id * 2654435761 band 16#7FFFFFFF, 0, 0, Pings, Main) end.

big_next(R) -> (R * 1103515245 + 12345) band 16#7FFFFFFF.

big_ping(Peers, R) ->
    R1 = big_next(R),
    element(1 + (R1 bsr 8) rem tuple_size(Peers), Peers) ! {ping, self()},
    R1.

big(Peers, R, Pongs, Seen, Pings, Main) ->
    receive
        {ping, From} ->
            From ! pong,
            big(Peers, R, Pongs, Seen + 1, Pings, Main);
        pong when Pongs + 1 =:= Pings ->
            Main ! big_done,
            big(Peers, R, Pongs + 1, Seen, Pings, Main);
        pong ->
            big(Peers, big_ping(Peers, R), Pongs + 1, Seen, Pings, Main);
        go ->
            big(Peers, big_ping(Peers, R), Pongs, Seen, Pings, Main);
        {stop, M} ->
            M ! {seen, Seen}
    end.

sky(Num, 1, Parent, Cnt) ->
    counters:add(Cnt, 1, 1),
    Parent ! {sum, Num};
sky(Num, Size, Parent, Cnt) ->
    counters:add(Cnt, 1, 1),
    Self = self(),
    Sub = Size div 10,
    [spawn(fun() -> sky(Num + I * Sub, Sub, Self, Cnt) end) || I <- lists:seq(0, 9)],
    Parent ! {sum, sky_collect(10, 0)}.

sky_collect(0, S) -> S;
sky_collect(K, S) -> receive {sum, V} -> sky_collect(K - 1, S + V) end.

%% Each process adds its index (N-1 .. 0) to a sum as it runs, then ends.
spawn_n(0, _) -> ok;
spawn_n(N, Cnt) ->
    I = N - 1,
    spawn(fun() -> counters:add(Cnt, 1, 1), counters:add(Cnt, 2, I) end),
    spawn_n(I, Cnt).

%% The driver (the main process) spawns each process and sends it its index;
%% each replies with it and ends; the driver sums the replies.
smsg_spawn(N, N, _) -> ok;
smsg_spawn(I, N, Self) ->
    W = spawn(fun() -> receive {work, From, V} -> From ! {result, V} end end),
    W ! {work, Self, I},
    smsg_spawn(I + 1, N, Self).

smsg_collect(0, Sum) -> Sum;
smsg_collect(K, Sum) -> receive {result, V} -> smsg_collect(K - 1, Sum + V) end.

tree(0, _, Started) ->
    counters:add(Started, 1, 1),
    receive never -> ok end;
tree(D, W, Started) ->
    counters:add(Started, 1, 1),
    [spawn_link(fun() -> tree(D - 1, W, Started) end) || _ <- lists:seq(1, W)],
    receive never -> ok end.

%% ---- helpers ----

pow10(0) -> 1;
pow10(N) -> 10 * pow10(N - 1).

wait_procs(Base) ->
    case erlang:system_info(process_count) > Base of
        true -> receive after 1 -> wait_procs(Base) end;
        false -> ok
    end.

wait_counter(C, Want) ->
    case counters:get(C, 1) < Want of
        true -> receive after 1 -> wait_counter(C, Want) end;
        false -> ok
    end.

%% CPU time of this OS process (all threads), from /proc/self/stat.
cpu_ms() ->
    {ok, B} = file:read_file("/proc/self/stat"),
    S = binary_to_list(B),
    After = string:tokens(lists:nthtail(string:rchr(S, $)) + 1, S), " "),
    UTime = list_to_integer(lists:nth(12, After)),
    STime = list_to_integer(lists:nth(13, After)),
    (UTime + STime) * 1000 / clk_tck().

clk_tck() ->
    case get(clk_tck) of
        undefined ->
            T = list_to_integer(string:trim(os:cmd("getconf CLK_TCK"))),
            put(clk_tck, T),
            T;
        T -> T
    end.

%% Resident memory now (VmRSS), in bytes.
rss_bytes() ->
    {ok, B} = file:read_file("/proc/self/statm"),
    [_, Resident | _] = string:tokens(binary_to_list(B), " \n"),
    list_to_integer(Resident) * 4096.

%% Peak resident set (VmHWM, the same figure as getrusage's ru_maxrss), in kB.
hwm_kb() ->
    {ok, B} = file:read_file("/proc/self/status"),
    [Line] = [L || L <- string:split(binary_to_list(B), "\n", all), lists:prefix("VmHWM:", L)],
    [_, V | _] = string:tokens(Line, " \t"),
    list_to_integer(V).
