%% The cancellable crawler, in Erlang/OTP, for the line-count comparison
%% with examples/crawler/crawler.c (docs/erlang/README.md). At most 8
%% workers at a time fetch pages (a timer stands for the network); the
%% crawl is cancelled halfway: queued pages are dropped, running workers
%% are stopped, and the results so far are counted.
%% Run: erlc crawler.erl && erl -noshell -s crawler main -s init stop
-module(crawler).
-export([main/0]).

-define(PAGES, 40).
-define(SLOTS, 8).

main() ->
    Self = self(),
    Coordinator = spawn(fun() -> coordinate(Self, lists:seq(1, ?PAGES), #{}, 0) end),
    receive {halfway, Coordinator} -> Coordinator ! cancel end,
    receive
        {done, Fetched, Cancelled} ->
            io:format("fetched ~p, cancelled ~p~n", [Fetched, Cancelled]),
            true = Fetched >= ?PAGES div 2 andalso Fetched + Cancelled =:= ?PAGES
    end.

coordinate(Main, Queue, Running, Fetched) when Queue =:= [], map_size(Running) =:= 0 ->
    Main ! {done, Fetched, 0};
coordinate(Main, [Page | Rest], Running, Fetched) when map_size(Running) < ?SLOTS ->
    {Pid, Ref} = spawn_monitor(fun() -> fetch(Page) end),
    coordinate(Main, Rest, Running#{Ref => Pid}, Fetched);
coordinate(Main, Queue, Running, Fetched) ->
    receive
        {'DOWN', Ref, process, _, {fetched, _Page}} ->
            Fetched + 1 =:= ?PAGES div 2 andalso (Main ! {halfway, self()}),
            coordinate(Main, Queue, maps:remove(Ref, Running), Fetched + 1);
        cancel ->
            [exit(Pid, cancelled) || Pid <- maps:values(Running)],
            Main ! {done, Fetched, length(Queue) + map_size(Running)}
    end.

fetch(Page) ->
    timer:sleep(1 + Page rem 5), % the network
    exit({fetched, Page}).
