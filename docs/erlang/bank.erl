%% The bank, in Erlang/OTP, for the line-count comparison with
%% examples/bank/bank.c (docs/erlang/README.md). A one_for_one supervisor
%% over four account servers; clients deposit, withdraw and read balances;
%% an overdraft crashes the account, the call returns the reason at once and
%% the supervisor restarts the account (with a fresh balance).
%% Run: erlc bank.erl && erl -noshell -s bank main -s init stop
-module(bank).
-behaviour(gen_server).
-export([main/0, init/1, handle_call/3, handle_cast/2, start_account/1]).

main() ->
    logger:set_primary_config(level, none),
    {ok, _} = supervisor:start_link({local, bank}, ?MODULE, bank),
    Accounts = [a1, a2, a3, a4],
    [{ok, 100} = call(A, {deposit, 100}) || A <- Accounts],
    {ok, 70} = call(a2, {withdraw, 30}),
    {error, overdraft} = call(a3, {withdraw, 500}),
    _ = supervisor:which_children(bank), % the restart is done
    Balances = [element(2, call(A, balance)) || A <- Accounts],
    io:format("balances ~p~n", [Balances]),
    [100, 70, 0, 100] = Balances.

call(Account, Request) ->
    try gen_server:call(Account, Request)
    catch exit:{{Reason, _}, _} -> {error, Reason}
    end.

start_account(Name) -> gen_server:start_link({local, Name}, ?MODULE, account, []).

init(bank) ->
    Specs = [#{id => A, start => {?MODULE, start_account, [A]}} || A <- [a1, a2, a3, a4]],
    {ok, {#{strategy => one_for_one, intensity => 3, period => 5}, Specs}};
init(account) -> {ok, 0}.

handle_call({deposit, N}, _From, Balance) -> {reply, {ok, Balance + N}, Balance + N};
handle_call({withdraw, N}, _From, Balance) when N =< Balance ->
    {reply, {ok, Balance - N}, Balance - N};
handle_call({withdraw, _}, _From, _Balance) -> erlang:error(overdraft);
handle_call(balance, _From, Balance) -> {reply, {ok, Balance}, Balance}.

handle_cast(_, Balance) -> {noreply, Balance}.
