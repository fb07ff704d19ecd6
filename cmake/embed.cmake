# Turns a file into C: `const unsigned char NAME[]` (NUL-terminated) and
# `const unsigned long NAME_len` (without the NUL). Run as
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P cmake/embed.cmake
# so the observer's dashboard ships inside the library (no files to install
# or find at run time).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR bytes "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by cmake/embed.cmake: do not edit. */\n"
  "const unsigned char ${NAME}[] = {\n${body}0x00};\n"
  "const unsigned long ${NAME}_len = ${bytes};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
