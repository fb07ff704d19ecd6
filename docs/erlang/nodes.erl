%% Two nodes, in Erlang/OTP, for the line-count comparison with
%% examples/nodes/nodes.c (docs/erlang/README.md). Node b registers an
%% echo server; node a waits until b is up and has registered it (as
%% tr_lookup_wait does in C: started together, b may still be booting),
%% makes 1000 calls to it, monitors it, kills b (kill -9) and gets the
%% DOWN with reason noconnection.
%% Run: erl -sname b -setcookie c -noshell -s nodes echo &
%%      erl -sname a -setcookie c -noshell -s nodes main -s init stop -extra b@$(hostname -s) $!
-module(nodes).
-export([echo/0, main/0]).

echo() ->
    register(echo, spawn(fun Loop() -> receive {From, Ref, X} -> From ! {Ref, X}, Loop() end end)).

main() ->
    [Peer, OsPid] = init:get_plain_arguments(),
    Echo = wait_for({echo, list_to_atom(Peer)}),
    [N = call(Echo, N) || N <- lists:seq(1, 1000)],
    Ref = monitor(process, Echo),
    os:cmd("kill -9 " ++ OsPid),
    receive {'DOWN', Ref, process, _, noconnection} -> io:format("down: noconnection~n") end.

wait_for({Name, Node} = Echo) ->
    case rpc:call(Node, erlang, whereis, [Name]) of
        Pid when is_pid(Pid) -> Echo;
        _ -> timer:sleep(10), wait_for(Echo)
    end.

call(Echo, X) ->
    Ref = make_ref(),
    Echo ! {self(), Ref, X},
    receive {Ref, Y} -> Y after 5000 -> exit(timeout) end.
