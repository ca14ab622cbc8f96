//! Operations between a variable and an `f32` (on either side of `+ - * /`), and unary `-`.

use super::unary::{Unary, UnaryOp};
use crate::{Node, Variable};

/// Defines a parametrised unary operation for one side of an `f32` operator.
macro_rules! scalar_op {
    ($(#[$doc:meta])* $marker:ident, $alias:ident, $name:literal,
     |$c:ident, $x:ident| $apply:expr, |$dc:ident, $dx:ident, $dy:ident| $derivative:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $marker(pub f32);

        impl UnaryOp for $marker {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn apply(&self, $x: f32) -> f32 {
                let $c = self.0;
                $apply
            }
            #[inline(always)]
            #[allow(unused_variables)]
            fn derivative(&self, $dx: f32, $dy: f32) -> f32 {
                let $dc = self.0;
                $derivative
            }
        }

        #[doc = concat!("Node for `", $name, "`.")]
        ///
        /// ```
        /// use wyrm::*;
        #[doc = concat!("use wyrm::nodes::", stringify!($alias), ";")]
        /// let (x, c) = (InputNode::new(ndarray::arr2(&[[4.0]])), 2.0);
        #[doc = concat!("let y: Variable<", stringify!($alias), "<InputNode>> = ", stringify!($apply), ";")]
        /// y.forward();
        /// let x = 4.0; // the same formula on the value
        #[doc = concat!("assert_eq!(y.value()[(0, 0)], ", stringify!($apply), ");")]
        /// ```
        pub type $alias<T> = Unary<$marker, T>;
    };
}

scalar_op!(
    /// `x + c`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{AddScalarOp, Unary};
    /// let x = InputNode::new(ndarray::arr2(&[[4.0]]));
    /// // `c + x` builds the same node as `x + c`.
    /// let y: Variable<Unary<AddScalarOp, InputNode>> = 1.0 + x;
    /// y.forward();
    /// assert_eq!(y.value()[(0, 0)], 5.0);
    /// ```
    AddScalarOp, AddScalar, "x + c",
    |c, x| x + c,
    |c, x, y| 1.0
);
scalar_op!(
    /// `x * c`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{MulScalarOp, Unary};
    /// let x = ParameterNode::new(ndarray::arr2(&[[4.0]]));
    /// // `c * x` builds the same node as `x * c`.
    /// let y: Variable<Unary<MulScalarOp, ParameterNode>> = 3.0 * x.clone();
    /// y.forward();
    /// y.backward(1.0);
    /// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (12.0, 3.0));
    /// ```
    MulScalarOp, MulScalar, "x * c",
    |c, x| x * c,
    |c, x, y| c
);
scalar_op!(
    /// `c - x`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{ScalarSubOp, Unary};
    /// let x = ParameterNode::new(ndarray::arr2(&[[4.0]]));
    /// // The node `10.0 - x` builds.
    /// let y: Variable<Unary<ScalarSubOp, ParameterNode>> = x.map(ScalarSubOp(10.0));
    /// y.forward();
    /// y.backward(1.0);
    /// // 10 - 4, and d/dx = -1
    /// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (6.0, -1.0));
    /// ```
    ScalarSubOp, ScalarSub, "c - x",
    |c, x| c - x,
    |c, x, y| -1.0
);
scalar_op!(
    /// `x - c`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{SubScalarOp, Unary};
    /// let x = ParameterNode::new(ndarray::arr2(&[[4.0]]));
    /// // The node `x - 1.0` builds.
    /// let y: Variable<Unary<SubScalarOp, ParameterNode>> = x.map(SubScalarOp(1.0));
    /// y.forward();
    /// y.backward(1.0);
    /// // 4 - 1, and d/dx = 1
    /// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (3.0, 1.0));
    /// ```
    SubScalarOp, SubScalar, "x - c",
    |c, x| x - c,
    |c, x, y| 1.0
);
scalar_op!(
    /// `x / c`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{DivScalarOp, Unary};
    /// let x = ParameterNode::new(ndarray::arr2(&[[4.0]]));
    /// // The node `x / 2.0` builds.
    /// let y: Variable<Unary<DivScalarOp, ParameterNode>> = x.map(DivScalarOp(2.0));
    /// y.forward();
    /// y.backward(1.0);
    /// // 4 / 2, and d/dx = 1 / c
    /// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (2.0, 0.5));
    /// ```
    DivScalarOp, DivScalar, "x / c",
    |c, x| x / c,
    |c, x, y| 1.0 / c
);
scalar_op!(
    /// `c / x`.
    ///
    /// ```
    /// use wyrm::*;
    /// use wyrm::nodes::{ScalarDivOp, Unary};
    /// let x = ParameterNode::new(ndarray::arr2(&[[4.0]]));
    /// // The node `2.0 / x` builds.
    /// let y: Variable<Unary<ScalarDivOp, ParameterNode>> = x.map(ScalarDivOp(2.0));
    /// y.forward();
    /// y.backward(1.0);
    /// // 2 / 4, and d/dx = -c / x²
    /// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (0.5, -0.125));
    /// ```
    ScalarDivOp, ScalarDiv, "c / x",
    |c, x| c / x,
    |c, x, y| -y / x
);

/// `-x`; node type [`Neg`].
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::{NegOp, Unary};
/// let x = ParameterNode::new(ndarray::arr2(&[[4.0]]));
/// let y: Variable<Unary<NegOp, ParameterNode>> = x.map(NegOp);
/// y.forward();
/// y.backward(1.0);
/// assert_eq!((y.value()[(0, 0)], x.gradient()[(0, 0)]), (-4.0, -1.0));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NegOp;

impl UnaryOp for NegOp {
    const NAME: &'static str = "neg";
    #[inline(always)]
    fn apply(&self, x: f32) -> f32 {
        -x
    }
    #[inline(always)]
    fn derivative(&self, _x: f32, _y: f32) -> f32 {
        -1.0
    }
}

/// Node for unary `-`.
///
/// ```
/// use wyrm::*;
/// use wyrm::nodes::Neg;
/// let x = InputNode::new(ndarray::arr2(&[[4.0, -1.0]]));
/// let y: Variable<Neg<InputNode>> = -x;
/// y.forward();
/// assert_eq!(y.value(), ndarray::arr2(&[[-4.0, 1.0]]));
/// ```
pub type Neg<T> = Unary<NegOp, T>;

impl<T: Node> std::ops::Neg for Variable<T> {
    type Output = Variable<Neg<T>>;
    fn neg(self) -> Self::Output {
        self.map(NegOp)
    }
}

impl<T: Node> std::ops::Neg for &Variable<T> {
    type Output = Variable<Neg<T>>;
    fn neg(self) -> Self::Output {
        self.map(NegOp)
    }
}

/// `Variable op f32` and `f32 op Variable` for one operator.
macro_rules! scalar_operators {
    ($trait:ident, $method:ident, $right:ident, $left:ident) => {
        impl<T: Node> std::ops::$trait<f32> for Variable<T> {
            type Output = Variable<Unary<$right, T>>;
            fn $method(self, c: f32) -> Self::Output {
                self.map($right(c))
            }
        }

        impl<T: Node> std::ops::$trait<Variable<T>> for f32 {
            type Output = Variable<Unary<$left, T>>;
            fn $method(self, x: Variable<T>) -> Self::Output {
                x.map($left(self))
            }
        }

        impl<T: Node> std::ops::$trait<f32> for &Variable<T> {
            type Output = Variable<Unary<$right, T>>;
            fn $method(self, c: f32) -> Self::Output {
                self.map($right(c))
            }
        }

        impl<T: Node> std::ops::$trait<&Variable<T>> for f32 {
            type Output = Variable<Unary<$left, T>>;
            fn $method(self, x: &Variable<T>) -> Self::Output {
                x.map($left(self))
            }
        }
    };
}

scalar_operators!(Add, add, AddScalarOp, AddScalarOp);
scalar_operators!(Mul, mul, MulScalarOp, MulScalarOp);
scalar_operators!(Sub, sub, SubScalarOp, ScalarSubOp);
scalar_operators!(Div, div, DivScalarOp, ScalarDivOp);

#[cfg(test)]
mod tests {
    use crate::*;
    use ndarray::arr2;

    fn eval<T: Node>(v: Variable<T>) -> f32 {
        v.forward();

        v.value()[(0, 0)]
    }

    #[test]
    fn references_work_like_values() {
        let x = InputNode::new(arr2(&[[4.0]]));
        assert_eq!(eval(&x + 1.0), 5.0);
        assert_eq!(eval(1.0 - &x), -3.0);
        assert_eq!(eval(&x * 2.0), 8.0);
        assert_eq!(eval(2.0 / &x), 0.5);
        assert_eq!(eval(-&x), -4.0);
        // `x` is still ours.
        assert_eq!(eval(x), 4.0);
    }

    #[test]
    fn values_on_both_sides() {
        let x = || InputNode::new(arr2(&[[4.0]]));
        assert_eq!(eval(x() + 1.0), 5.0);
        assert_eq!(eval(1.0 + x()), 5.0);
        assert_eq!(eval(x() - 1.0), 3.0);
        assert_eq!(eval(1.0 - x()), -3.0);
        assert_eq!(eval(x() * 2.0), 8.0);
        assert_eq!(eval(2.0 * x()), 8.0);
        assert_eq!(eval(x() / 2.0), 2.0);
        assert_eq!(eval(2.0 / x()), 0.5);
        assert_eq!(eval(-x()), -4.0);
    }

    #[test]
    fn gradients() {
        for (r, c) in [(1, 1), (3, 4)] {
            // |x| >= 1 keeps `1.5 / x` smooth (`v + 3.0` came near 0 now and then).
            let x = ParameterNode::new(random_matrix(r, c).mapv(|v| v + v.signum()));
            gradcheck::assert_gradient(&(x.clone() + 1.5), &x);
            gradcheck::assert_gradient(&(1.5 + x.clone()), &x);
            gradcheck::assert_gradient(&(x.clone() - 1.5), &x);
            gradcheck::assert_gradient(&(1.5 - x.clone()), &x);
            gradcheck::assert_gradient(&(x.clone() * 1.5), &x);
            gradcheck::assert_gradient(&(1.5 * x.clone()), &x);
            gradcheck::assert_gradient(&(x.clone() / 1.5), &x);
            gradcheck::assert_gradient(&(1.5 / x.clone()), &x);
            gradcheck::assert_gradient(&(-x.clone()), &x);
        }
    }
}
