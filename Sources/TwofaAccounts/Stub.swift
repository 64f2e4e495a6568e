public enum Accounts {}
