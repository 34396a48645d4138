public enum NixPlaceholder {}
