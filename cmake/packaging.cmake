# Debian packages with CPack (scripts/package.sh builds them):
#   libtroupe0     the shared library                 Depends: computed by dpkg-shlibdeps
#   libtroupe-dev  headers, static library, CMake package, troupe.pc
#                                                      Depends: libtroupe0 (= version), libnng-dev,
#                                                               libmsgpack-dev, libssl-dev, pkg-config
#   troupe-chat    the chat example program            Depends: computed by dpkg-shlibdeps
# Configure with -DCMAKE_INSTALL_PREFIX=/usr so GNUInstallDirs picks Debian's
# multiarch library folder (lib/x86_64-linux-gnu).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME troupe)
set(CPACK_PACKAGE_VENDOR "Troupe")
set(CPACK_PACKAGE_CONTACT "Troupe maintainers <troupe@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev chat)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)            # name_version_arch.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libtroupe0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION
    "Troupe actor runtime: shared library\n Actors with bounded mailboxes, OTP-style supervisors, a work-stealing\n scheduler and distribution over NNG with msgpack messages.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libtroupe-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libtroupe0 (= ${PROJECT_VERSION}-1), libnng-dev, libmsgpack-dev, libssl-dev, pkg-config | pkgconf")
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "Troupe actor runtime: development files\n Headers, the static library, the CMake package (find_package(Troupe))\n and troupe.pc for pkg-config.")

set(CPACK_DEBIAN_CHAT_PACKAGE_NAME troupe-chat)
set(CPACK_DEBIAN_CHAT_PACKAGE_SECTION net)
set(CPACK_DEBIAN_CHAT_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_CHAT_DESCRIPTION
    "Troupe example: a distributed chat\n troupe-chat server / client / bots: chat rooms spread over several\n nodes, with a Prometheus endpoint and live dashboard (--http).")

include(CPack)
