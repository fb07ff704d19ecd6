/* The user's commands: parsing a typed line into a chat_cmd. Running them is
 * the member's job (member.c), so every front end (terminal, tests, ...)
 * gets the same commands from the same code. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "chat.h"

const char *const chat_help_lines[] = {
    "commands (case does not matter; a line starting with // sends a line starting with /):",
    "  /join #room          join a room (several at once); it becomes your current room",
    "  /part [#room] [why]  leave a room (default: the current one)",
    "  /nick NEW            change your nickname (unique across all servers)",
    "  /msg NICK text       a private line to NICK only, wherever NICK is connected",
    "  /me action           an action in the current room (* you action)",
    "  /who [#room]         who is in a room (default: the current one)",
    "  /list                rooms with their member counts and hosting servers",
    "  /where #room         which server hosts a room",
    "  /help                this text",
    "  /quit [why]          leave every room and exit",
    "plain lines go to your current room (the room you joined last, or chose with /join)",
    NULL,
};

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Copies the next word of *s into buf (cap bytes) and moves *s past it and
 * the blanks after it. Returns the word's full length (may exceed cap-1). */
static size_t next_word(const char **s, char *buf, size_t cap)
{
    const char *p = skip_blanks(*s);
    size_t n = 0;
    while (p[n] != '\0' && p[n] != ' ' && p[n] != '\t')
        n++;
    snprintf(buf, cap, "%.*s", (int)n, p);
    *s = skip_blanks(p + n);
    return n;
}

/* The text after the arguments, with trailing blanks trimmed: it points into
 * the line, so the trim is a length; the member copies it. */
static const char *rest(const char *s) { return skip_blanks(s); }

static void bad(chat_cmd *out, const char *text)
{
    out->kind = CHAT_CMD_BAD;
    out->text = text;
}

/* A room argument: optional, one leading '#' dropped. False when it is not
 * a valid room name (then *out tells why). */
static bool room_arg(const char **s, chat_cmd *out, bool required)
{
    char word[CHAT_MAX_LINE + 1];
    size_t n = next_word(s, word, sizeof(word));
    if (n == 0) {
        out->arg[0] = '\0';
        if (required)
            bad(out, "this command needs a room: e.g. #lobby");
        return !required;
    }
    snprintf(out->arg, sizeof(out->arg), "%s", chat_room_name(word));
    if (n >= sizeof(word) || !chat_valid_room(out->arg)) {
        bad(out, "bad room name: use 1-32 of A-Z a-z 0-9 _ . - (a leading # is optional)");
        return false;
    }
    return true;
}

static bool nick_arg(const char **s, chat_cmd *out, const char *missing)
{
    size_t n = next_word(s, out->arg, sizeof(out->arg));
    if (n == 0) {
        bad(out, missing);
        return false;
    }
    if (n >= sizeof(out->arg) || !chat_valid_nick(out->arg)) {
        bad(out, "bad nickname: use 1-32 of A-Z a-z 0-9 _ -");
        return false;
    }
    return true;
}

void chat_parse_command(const char *line, chat_cmd *out)
{
    memset(out, 0, sizeof(*out));
    const char *s = skip_blanks(line);
    if (s[0] != '/' || s[1] == '/') {
        out->kind = CHAT_CMD_SAY;
        out->text = s[0] == '/' ? s + 1 : line; /* "//x" says "/x"; a plain line as typed */
        return;
    }
    char name[16];
    size_t n = next_word(&(const char *){s + 1}, name, sizeof(name));
    s = skip_blanks(s + 1 + n);
    static const struct {
        const char *name;
        chat_cmd_kind kind;
    } table[] = {{"join", CHAT_CMD_JOIN},   {"j", CHAT_CMD_JOIN},     {"part", CHAT_CMD_PART},
                 {"leave", CHAT_CMD_PART},  {"nick", CHAT_CMD_NICK},  {"msg", CHAT_CMD_MSG},
                 {"query", CHAT_CMD_MSG},   {"me", CHAT_CMD_ME},      {"who", CHAT_CMD_WHO},
                 {"names", CHAT_CMD_WHO},   {"list", CHAT_CMD_LIST},  {"where", CHAT_CMD_WHERE},
                 {"help", CHAT_CMD_HELP},   {"quit", CHAT_CMD_QUIT},  {"exit", CHAT_CMD_QUIT}};
    out->kind = CHAT_CMD_BAD;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (n < sizeof(name) && strcasecmp(name, table[i].name) == 0)
            out->kind = table[i].kind;
    switch (out->kind) {
    case CHAT_CMD_JOIN:
        room_arg(&s, out, true);
        return;
    case CHAT_CMD_PART: {
        const char *t = skip_blanks(s);
        if (*t == '#') {
            if (!room_arg(&s, out, true))
                return;
        }
        out->text = rest(s);
        return;
    }
    case CHAT_CMD_NICK:
        if (nick_arg(&s, out, "usage: /nick NEW") && *rest(s) != '\0')
            bad(out, "usage: /nick NEW (one word)");
        return;
    case CHAT_CMD_MSG:
        if (!nick_arg(&s, out, "usage: /msg NICK text"))
            return;
        out->text = rest(s);
        if (out->text[0] == '\0')
            bad(out, "usage: /msg NICK text (the text is missing)");
        return;
    case CHAT_CMD_ME:
        out->text = rest(s);
        if (out->text[0] == '\0')
            bad(out, "usage: /me action");
        return;
    case CHAT_CMD_WHO:
        room_arg(&s, out, false);
        return;
    case CHAT_CMD_WHERE:
        room_arg(&s, out, true);
        return;
    case CHAT_CMD_LIST:
    case CHAT_CMD_HELP:
        return;
    case CHAT_CMD_QUIT:
        out->text = rest(s);
        return;
    default:
        bad(out, "unknown command (not sent); /help lists the commands");
        return;
    }
}
