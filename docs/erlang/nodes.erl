%% Two nodes, in Erlang/OTP, for the line-count comparison with
%% examples/nodes/nodes.c (docs/erlang/README.md). Node b registers an
%% echo server; node a makes 1000 calls to it, then b is killed (kill -9)
%% and a gets a DOWN with reason noconnection.
%% Run: erl -sname b -setcookie c -noshell -s nodes echo &
%%      erl -sname a -setcookie c -noshell -s nodes main -extra b@HOST <pid of b>
-module(nodes).
-export([echo/0, main/0]).

echo() ->
    register(echo, spawn(fun Loop() -> receive {From, Ref, X} -> From ! {Ref, X}, Loop() end end)).

main() ->
    [Peer, OsPid] = init:get_plain_arguments(),
    Echo = {echo, list_to_atom(Peer)},
    true = net_kernel:connect_node(list_to_atom(Peer)),
    [N = call(Echo, N) || N <- lists:seq(1, 1000)],
    Ref = monitor(process, Echo),
    os:cmd("kill -9 " ++ OsPid),
    receive {'DOWN', Ref, process, _, Reason} -> io:format("down: ~p~n", [Reason]) end.

call(Echo, X) ->
    Ref = make_ref(),
    Echo ! {self(), Ref, X},
    receive {Ref, Y} -> Y after 5000 -> exit(timeout) end.
