# Install-time step (see CMakeLists.txt): install the systemd unit with its
# ExecStart pointing at the cbsync binary of this installation's prefix.
# CMAKE_INSTALL_PREFIX here is the prefix in use now: CMAKE_INSTALL_PREFIX,
# `cmake --install --prefix`, or CPack's /usr.
file(READ "${CBSYNC_UNIT_SOURCE}" unit)
if(IS_ABSOLUTE "${CBSYNC_UNIT_BINDIR}")
  set(bindir "${CBSYNC_UNIT_BINDIR}")
else()
  set(bindir "${CMAKE_INSTALL_PREFIX}/${CBSYNC_UNIT_BINDIR}")
endif()
string(REPLACE "ExecStart=/usr/bin/cbsync " "ExecStart=${bindir}/cbsync " unit "${unit}")
file(WRITE "${CBSYNC_UNIT_STAGING}/cbsync.service" "${unit}")

if(IS_ABSOLUTE "${CBSYNC_UNIT_DIR}")
  set(unitdir "${CBSYNC_UNIT_DIR}")
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/${CBSYNC_UNIT_DIR}")
endif()
file(INSTALL DESTINATION "${unitdir}" TYPE FILE
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  FILES "${CBSYNC_UNIT_STAGING}/cbsync.service")
