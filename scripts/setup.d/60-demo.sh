# The HMI developer's workbench (evcc/demo, dbus/*.xml, tests/demo): the client toolchains the interface files are
# proved with. gdbus-codegen (libglib2.0-dev-bin) generates C from dbus/org.evcc.Evcc1.*.xml, compiled with gcc
# against GLib/GIO (libglib2.0-dev); qdbusxml2cpp (qtbase5-dev-tools) generates the Qt proxy, compiled against
# QtDBus (qtbase5-dev). All from Debian 12.
APT_PACKAGES+=(libglib2.0-dev-bin libglib2.0-dev pkg-config gcc qtbase5-dev-tools qtbase5-dev g++)
